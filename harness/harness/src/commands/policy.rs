//! `harness policy check` and `harness policy verify`: offline policy evaluation. The 2019 path's
//! logic is `policy_engine::offline`, the Gatekeeper v3 path's `policy_engine::gatekeeper_v3::{check, suite}`;
//! this file only routes and prints.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use policy_engine::gatekeeper_v3::{check as v3, suite};
use policy_engine::offline::{CheckRequest, check};

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Evaluate an object (manifests or an AdmissionReview) against 2019 Rego files or definitions, or
    /// against Gatekeeper v3 templates and constraints or a Microsoft.Kubernetes.Data definition.
    /// Prints {"allowed":bool,"violations":[...]}; exits 0 allowed, 1 denied, 2 on error.
    Check(CheckArgs),
    /// Run gator-format test suites (kind: Suite); `DIR/...` recurses. Prints failing cases and a
    /// last line `verify: suites=N tests=N cases=N passed=N failed=N skipped=N`; exits 0 when nothing
    /// failed, 1 otherwise, 2 on a usage or parse error.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A Rego module (repeatable). 2019 only.
    #[arg(long = "rego", value_name = "FILE")]
    rego: Vec<PathBuf>,
    /// A policy definition JSON. Mode Microsoft.Kubernetes.Data: its constraint is built as the add-on
    /// builds it and its template comes from templateInfo. Other modes (2019): its details.policy file
    /// name is looked up locally (never fetched).
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
    /// Value for {{AzurePolicyID}}. 2019 only.
    #[arg(long = "policy-id", value_name = "ID")]
    policy_id: Option<String>,
    /// A parameter value, NAME=VALUE (repeatable). For Microsoft.Kubernetes.Data definitions VALUE is
    /// read as JSON when it parses, else as a string.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Manifests replicated as existing cluster objects (repeatable). 2019 only.
    #[arg(long, value_name = "FILE")]
    existing: Vec<PathBuf>,
    /// Directory searched first for a definition's Rego file (default: the built-in policies). 2019 only.
    #[arg(long, value_name = "DIR")]
    policies_dir: Option<PathBuf>,
    /// A Gatekeeper v3 ConstraintTemplate (repeatable).
    #[arg(long = "template", value_name = "FILE")]
    templates: Vec<PathBuf>,
    /// Gatekeeper v3 Constraints (repeatable; a file may hold several). Each finds its template by kind.
    #[arg(long = "constraint", value_name = "FILE")]
    constraints: Vec<PathBuf>,
    /// Objects for data.inventory, for referential templates (repeatable). Gatekeeper v3 only.
    #[arg(long = "inventory", value_name = "FILE")]
    inventory: Vec<PathBuf>,
    /// The object under test: YAML/JSON manifests (multi-document) or an AdmissionReview.
    #[arg(value_name = "OBJECT_FILE")]
    object_file: PathBuf,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Suite files or directories; `DIR/...` walks DIR recursively.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// Only tests (or cases) whose name matches REGEX; `TEST//CASE` filters both.
    #[arg(long, value_name = "REGEX")]
    run: Option<String>,
    /// Print every case, not only failures.
    #[arg(short, long)]
    verbose: bool,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))?;
    Ok((name.to_string(), value.to_string()))
}

pub async fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check(args) => run_check(args),
        PolicyCommand::Verify(args) => run_verify(args),
    }
}

fn run_check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let kubernetes_definition = match &args.definition {
        Some(path) => v3::is_kubernetes_data_definition(path)?,
        None => false,
    };
    let v3_flags = !args.templates.is_empty() || !args.constraints.is_empty() || !args.inventory.is_empty();
    if kubernetes_definition || v3_flags {
        let v2_flags = !args.rego.is_empty()
            || !args.existing.is_empty()
            || args.policy_id.is_some()
            || args.policies_dir.is_some();
        if v2_flags || (args.definition.is_some() && !kubernetes_definition) {
            bail!(
                "--rego, --existing, --policy-id, --policies-dir and 2019 definitions cannot be combined with \
                 --template, --constraint, --inventory or a Microsoft.Kubernetes.Data definition"
            );
        }
        let request = v3::CheckRequest {
            templates: args.templates,
            constraints: args.constraints,
            inventory: args.inventory,
            definition: args.definition,
            params: args.params,
            object_file: args.object_file,
        };
        let report = v3::check(&request)?;
        for note in &report.notes {
            eprintln!("note: {note}");
        }
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        return Ok(ExitCode::from(report.exit_code()));
    }
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

fn run_verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = suite::verify(&args.paths, &suite::VerifyOptions { run: args.run })?;
    for line in report.lines(args.verbose) {
        println!("{line}");
    }
    println!("{}", report.summary_line());
    Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
