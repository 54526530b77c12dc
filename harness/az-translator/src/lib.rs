//! A built-in translator from `az` command lines to the ARM calls the 2019 Azure CLI made, so
//! scenarios can paste the documented commands verbatim and run them against azure-sim.
//!
//! ```no_run
//! # async fn demo(sim: &azure_sim::RunningSim) -> Result<(), az_translator::AzError> {
//! let creds = sim.new_subscription("scenario");
//! let mut az = az_translator::AzCli::for_sim(sim, &creds.subscription_id)?;
//! let out = az.run("az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove").await;
//! assert_eq!(out.exit_code, 0);
//! # Ok(()) }
//! ```
//!
//! Parsing ([`args`]), output and `--query` ([`output`]) and HTTP with LRO polling ([`arm`]) are
//! shared; each command group lives in its own module. What is printed follows the CLI: JSON by
//! default, `WARNING:` lines and `ERROR: (<Code>) <message>` on stderr, exit 2 for usage errors.
//! (The 2019 msrestazure-based CLI worded ARM errors in several ways; the harness uses one form that
//! always carries the ARM code, because scenarios assert on it.)

mod aks;
pub mod args;
mod arm;
mod error;
mod extension;
mod feature;
mod group;
pub mod output;
mod policy;
mod provider;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

pub use error::{AzError, AzResult};
pub use extension::{AKS_PREVIEW, AKS_PREVIEW_VERSIONS};

use args::{Args, Opt};
use output::Format;

/// The CLI version the harness impersonates: late 2019, above the preview's minimum of 2.0.62.
pub const CLI_VERSION: &str = "2.0.76";

/// The api-versions the 2019 CLI (2.0.76 with aks-preview 0.4.x) sent.
pub mod api {
    /// Microsoft.Resources (providers, resource groups). The reference leaves the exact version
    /// open ("a 2016–2019 version"); 2019-07-01 is what the CLI's `latest` profile used in late 2019.
    pub const RESOURCES: &str = "2019-07-01";
    /// Microsoft.Features, as documented.
    pub const FEATURES: &str = "2015-12-01";
    /// Microsoft.ContainerService managed clusters: a 2019 GA version from the reference's list
    /// (aks-preview vendored similar ones); chosen because it has `addonProfiles` and is pre-2020.
    pub const AKS: &str = "2019-08-01";
    /// Microsoft.Authorization policy definitions and assignments: 2019-06-01 is the first version
    /// with `enforcementMode`, which `--enforcement-mode` needs.
    pub const POLICY: &str = "2019-06-01";
    /// Microsoft.PolicyInsights, as documented (triggerEvaluation needs it).
    pub const POLICY_INSIGHTS: &str = "2019-10-01";
}

/// What a command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AzOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl AzOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// stdout parsed as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
    }
}

/// Where the simulated CLI is logged in to.
#[derive(Debug, Clone)]
pub struct AzConfig {
    /// ARM base URL without a trailing slash (`https://127.0.0.1:<port>`).
    pub arm_url: String,
    /// CA certificate to trust (azure-sim's); `None` for plain HTTP.
    pub ca_pem: Option<String>,
    /// Bearer token for every ARM call.
    pub token: String,
    pub subscription_id: String,
    pub tenant_id: String,
    /// Location used when a command needs one and none is given (`az configure --defaults location=`).
    pub location: String,
}

/// One command of the table: its words and its options.
pub(crate) struct Spec {
    pub words: &'static [&'static str],
    pub opts: &'static [Opt],
}

/// A logged-in simulated `az`: ARM endpoint, credentials, and the local state the real CLI keeps
/// on disk (installed extensions). Reuse one per scenario, like one user's shell.
pub struct AzCli {
    base_url: String,
    http: reqwest::Client,
    token: String,
    subscription: String,
    tenant: String,
    location: String,
    /// Installed extensions: name → version (the CLI's `~/.azure/cliextensions`).
    extensions: BTreeMap<String, String>,
    /// Whether `az aks` knows the `azure-policy` add-on without aks-preview, as every CLI since the
    /// add-on's general availability does (see [`AzCli::set_azure_policy_built_in`]).
    azure_policy_built_in: bool,
    /// Interval between LRO polls (see [`arm::DEFAULT_POLL_INTERVAL`]).
    pub poll_interval: Duration,
    /// Longest an LRO may take before the command fails.
    pub lro_timeout: Duration,
    /// Retries of a throttled (429) or failing (408/5xx) request, as msrest's policy (3).
    pub max_retries: u32,
    /// Warnings of the command being run, printed to stderr.
    warnings: Vec<String>,
}

impl std::fmt::Debug for AzCli {
    /// Everything but the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzCli")
            .field("arm_url", &self.base_url)
            .field("subscription", &self.subscription)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

impl AzCli {
    /// A CLI logged in as described by `config`, with no extensions installed (a fresh install).
    /// Installs the ring crypto provider if none is installed yet.
    pub fn new(config: AzConfig) -> AzResult<AzCli> {
        pki::install_ring_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = &config.ca_pem {
            let cert = reqwest::Certificate::from_pem(ca.as_bytes())
                .map_err(|e| AzError::Transport(format!("bad CA certificate: {e}")))?;
            builder = builder.tls_certs_only([cert]);
        }
        let http = builder.build().map_err(|e| AzError::Transport(format!("building the HTTP client: {e}")))?;
        Ok(AzCli {
            base_url: config.arm_url.trim_end_matches('/').to_string(),
            http,
            token: config.token,
            subscription: config.subscription_id,
            tenant: config.tenant_id,
            location: config.location,
            extensions: BTreeMap::new(),
            azure_policy_built_in: false,
            poll_interval: arm::DEFAULT_POLL_INTERVAL,
            lro_timeout: arm::DEFAULT_LRO_TIMEOUT,
            max_retries: 3,
            warnings: Vec::new(),
        })
    }

    /// The CLI a user of today's add-on runs: `azure-policy` is a core `az aks` add-on, no extension
    /// needed. The other commands and api-versions stay the 2019 CLI's, which azure-sim serves alike.
    pub fn set_azure_policy_built_in(&mut self, built_in: bool) {
        self.azure_policy_built_in = built_in;
    }

    /// A CLI logged in to `subscription` of a running azure-sim (owner token, default location `westus2`).
    pub fn for_sim(sim: &azure_sim::RunningSim, subscription: &str) -> AzResult<AzCli> {
        let token = sim.token_for(subscription).map_err(|e| AzError::cli(e.to_string()))?;
        AzCli::new(AzConfig {
            arm_url: sim.arm_url().to_string(),
            ca_pem: sim.ca_pem().map(str::to_string),
            token,
            subscription_id: subscription.to_string(),
            tenant_id: sim.tenant_id(),
            location: "westus2".to_string(),
        })
    }

    pub fn subscription_id(&self) -> &str {
        &self.subscription
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant
    }

    /// Installed extensions (name → version).
    pub fn extensions(&self) -> &BTreeMap<String, String> {
        &self.extensions
    }

    /// Runs one command line (it must start with `az`) and returns what the CLI would print.
    pub async fn run(&mut self, command_line: &str) -> AzOutput {
        self.warnings.clear();
        let result = self.execute(command_line).await;
        let mut stderr: String = self.warnings.drain(..).map(|w| format!("WARNING: {w}\n")).collect();
        match result {
            Ok(stdout) => AzOutput { exit_code: 0, stdout, stderr },
            Err(e) => {
                stderr.push_str(&e.stderr());
                stderr.push('\n');
                AzOutput { exit_code: e.exit_code(), stdout: String::new(), stderr }
            }
        }
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    async fn execute(&mut self, command_line: &str) -> AzResult<String> {
        let tokens = args::split_line(command_line)?;
        let Some((first, rest)) = tokens.split_first().filter(|(f, _)| f.as_str() == "az") else {
            return Err(AzError::NotSimulated(format!(
                "not an az command: {command_line:?}; lines must start with 'az'"
            )));
        };
        if rest.is_empty() || rest.iter().all(|t| t == "--version") || rest == ["version"] {
            return Ok(self.version(rest.first().map(String::as_str)));
        }
        debug_assert_eq!(first, "az");
        let words: Vec<&str> = rest.iter().take_while(|t| !t.starts_with('-')).map(String::as_str).collect();
        let specs = all_specs();
        let spec = specs.iter().filter(|s| words.starts_with(s.words)).max_by_key(|s| s.words.len());
        let Some(spec) = spec else { return Err(not_simulated(&words)) };
        let command = spec.words.join(" ");
        let tokens = &rest[spec.words.len()..];
        if tokens.iter().any(|t| t == "-h" || t == "--help") {
            return Ok(help(spec));
        }
        let parsed = args::parse(&command, spec.opts, tokens)?;
        let format = Format::parse(&command, parsed.get("--output"))?;
        let saved = parsed.get("--subscription").map(|s| std::mem::replace(&mut self.subscription, s.to_string()));
        let result = self.dispatch(spec.words, &parsed).await;
        if let Some(old) = saved {
            self.subscription = old;
        }
        let mut value = result?;
        output::add_resource_group(&mut value);
        match parsed.get("--query") {
            Some(expression) if !value.is_null() => value = output::query(&command, expression, &value)?,
            // The CLI's table transformers, used only for `-o table` without `--query`.
            None if format == Format::Table => value = table_view(spec.words, value),
            _ => {}
        }
        Ok(output::render(format, &value))
    }

    async fn dispatch(&mut self, words: &[&str], args: &Args) -> AzResult<Value> {
        match words[0] {
            "provider" => provider::run(self, words[1], args).await,
            "feature" => feature::run(self, words[1], args).await,
            "aks" => aks::run(self, words[1], args).await,
            "group" => group::run(self, words[1], args).await,
            "policy" => policy::run(self, &words[1..], args).await,
            "extension" => extension::run(self, words[1], args),
            _ => Err(not_simulated(words)),
        }
    }

    /// `az --version` (text) and `az version` (JSON), with the installed extensions.
    fn version(&self, form: Option<&str>) -> String {
        if form == Some("version") {
            return output::json(&json!({
                "azure-cli": CLI_VERSION, "azure-cli-core": CLI_VERSION, "azure-cli-telemetry": "1.0.4",
                "extensions": self.extensions,
            }));
        }
        let mut text = format!(
            "azure-cli                         {CLI_VERSION}\n\ncore                              {CLI_VERSION}\ntelemetry                          1.0.4\n"
        );
        if !self.extensions.is_empty() {
            text.push_str("\nExtensions:\n");
            for (name, version) in &self.extensions {
                text.push_str(&format!("{name:<34}{version}\n"));
            }
        }
        text.push_str(
            "\nPython (Linux) 3.6.5\n\nLegal docs and information: aka.ms/AzureCliLegal\n\nYour CLI is up-to-date.\n",
        );
        text
    }
}

/// The columns the CLI's table transformers showed for list/show commands (alphabetical column
/// order matches theirs for these two groups).
fn table_view(words: &[&str], value: Value) -> Value {
    let row = |v: &Value| match words[0] {
        "feature" => json!({"Name": v["name"], "RegistrationState": v["properties"]["state"]}),
        "provider" => {
            json!({"Namespace": v["namespace"], "RegistrationPolicy": v["registrationPolicy"], "RegistrationState": v["registrationState"]})
        }
        _ => v.clone(),
    };
    match &value {
        Value::Array(items) => Value::Array(items.iter().map(row).collect()),
        Value::Object(_) => row(&value),
        _ => value,
    }
}

fn all_specs() -> Vec<&'static Spec> {
    [provider::SPECS, feature::SPECS, aks::SPECS, group::SPECS, policy::SPECS, extension::SPECS]
        .into_iter()
        .flatten()
        .collect()
}

/// Every simulated command, e.g. `az provider register`.
pub fn supported_commands() -> Vec<String> {
    let mut commands: Vec<String> = all_specs().iter().map(|s| format!("az {}", s.words.join(" "))).collect();
    commands.extend(["az version".to_string(), "az --version".to_string()]);
    commands
}

fn not_simulated(words: &[&str]) -> AzError {
    let supported: Vec<String> = all_specs().iter().map(|s| s.words.join(" ")).collect();
    AzError::NotSimulated(format!(
        "az {} is not simulated by aks-policy-harness; supported: {}, version",
        words.join(" "),
        supported.join(", ")
    ))
}

fn help(spec: &Spec) -> String {
    let mut text = format!("Command\n    az {}\n\nArguments\n", spec.words.join(" "));
    for opt in spec.opts.iter().chain(args::GLOBAL) {
        let required = if opt.required { " [Required]" } else { "" };
        text.push_str(&format!("    {}{required}\n", opt.names.join(" ")));
    }
    text
}

/// The ARM id of a resource group of the current subscription.
fn rg_id(cli: &AzCli, rg: &str) -> String {
    format!("/subscriptions/{}/resourceGroups/{rg}", cli.subscription)
}
