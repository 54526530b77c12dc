//! `harness policy check`: offline policy evaluation (logic in `policy_engine::offline`).
use std::path::PathBuf;
use std::process::ExitCode;

use policy_engine::offline::{CheckRequest, check};

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Evaluate an object (manifest or AdmissionReview) against Rego files or a policy definition.
    /// Prints {"allowed":bool,"violations":[...]}; exits 0 allowed, 1 denied, 2 on error.
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A Rego module (repeatable).
    #[arg(long = "rego", value_name = "FILE")]
    rego: Vec<PathBuf>,
    /// A policy definition JSON; its details.policy file name is looked up locally (never fetched).
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
    /// Value for {{AzurePolicyID}}.
    #[arg(long = "policy-id", value_name = "ID")]
    policy_id: Option<String>,
    /// A parameter value, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Manifests replicated as existing cluster objects (repeatable).
    #[arg(long, value_name = "FILE")]
    existing: Vec<PathBuf>,
    /// Directory searched first for a definition's Rego file (default: the built-in policies).
    #[arg(long, value_name = "DIR")]
    policies_dir: Option<PathBuf>,
    /// The object under test: YAML/JSON manifests (multi-document) or an AdmissionReview.
    #[arg(value_name = "OBJECT_FILE")]
    object_file: PathBuf,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))?;
    Ok((name.to_string(), value.to_string()))
}

pub async fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Check(args) = cmd;
    let request = CheckRequest {
        rego_files: args.rego,
        definition: args.definition,
        policy_id: args.policy_id,
        params: args.params,
        existing: args.existing,
        object_file: args.object_file,
        policies_dir: args.policies_dir,
    };
    let report = check(&request)?;
    println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    Ok(if report.allowed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
