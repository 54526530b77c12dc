//! The `policy-webhook` command line: `serve`, `register`, `unregister`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kube::config::{KubeConfigOptions, Kubeconfig};
use policy_engine::PolicyEngine;

use crate::registration::{self, FailurePolicy, Registration, WebhookKind};
use crate::replication::{DEFAULT_REPLICATE, ResourceSpec};
use crate::server::TlsSource;
use crate::webhook::{self, DEFAULT_DENIALS_CAPACITY, DEFAULT_MAX_BODY_BYTES, WebhookOptions};

/// Gatekeeper v2 (manager + OPA + kube-mgmt) in one process: a Rego admission webhook for the
/// Azure Policy for AKS (2019 preview) simulation.
#[derive(Debug, Parser)]
#[command(name = "policy-webhook", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve /v1/admit, /v1/audit, /v1/denials, /v1/status, /healthz, /readyz and /metrics over
    /// HTTPS, loading policies from ConfigMaps and replicating cluster objects.
    Serve(ServeArgs),
    /// Register (create or update) the MutatingWebhookConfiguration and wait until the API server
    /// sends requests to the webhook.
    Register(RegisterArgs),
    /// Delete the MutatingWebhookConfiguration (do this before stopping the webhook).
    Unregister(UnregisterArgs),
}

#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Kubeconfig file; without it, the usual inference (KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed, and written to --addr-file).
    #[arg(long, env = "WEBHOOK_LISTEN_ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Serving certificate (PEM). Needs an IP SAN for the address the API server calls.
    #[arg(long, env = "WEBHOOK_TLS_CERT_FILE")]
    pub tls_cert_file: PathBuf,
    /// Private key of the serving certificate (PEM).
    #[arg(long, env = "WEBHOOK_TLS_KEY_FILE")]
    pub tls_key_file: PathBuf,
    /// Write the bound address (`host:port`) to this file once listening.
    #[arg(long, env = "WEBHOOK_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
    /// Namespace whose ConfigMaps hold the policies (kube-mgmt --policies).
    #[arg(long, env = "POLICY_NAMESPACE", default_value = "azure-policy")]
    pub policy_namespace: String,
    /// Resource to replicate into data.kubernetes, as [group/]version/resource; repeatable.
    #[arg(long = "replicate", env = "WEBHOOK_REPLICATE", value_delimiter = ',', default_values_t = DEFAULT_REPLICATE.map(String::from))]
    pub replicate: Vec<String>,
    /// Rego file to load at start as module `file/<file name>` (in addition to ConfigMaps); repeatable.
    #[arg(long = "rego")]
    pub rego: Vec<PathBuf>,
    /// Serve without an API server: no ConfigMaps, no replication; only --rego policies.
    #[arg(long)]
    pub no_kube: bool,
    /// Largest accepted AdmissionReview body in bytes; larger ones get HTTP 400.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// How many recent denials /v1/denials keeps.
    #[arg(long, default_value_t = DEFAULT_DENIALS_CAPACITY)]
    pub denials_capacity: usize,
    /// Bearer token for /v1/audit and /v1/denials. Without it they are open on a loopback address
    /// and get a generated token (printed as `read-token:`) on any other.
    #[arg(long, env = "POLICY_WEBHOOK_READ_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The webhook URL, e.g. https://127.0.0.1:8443/v1/admit.
    #[arg(long)]
    pub url: String,
    /// CA certificate (PEM) that signed the webhook's serving certificate; becomes the caBundle.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// What the API server does when the webhook cannot be reached.
    #[arg(long, value_enum, ignore_case = true, default_value_t = FailurePolicy::Ignore)]
    pub failure_policy: FailurePolicy,
    /// Mutating (Gatekeeper v2, reviews before names are generated) or validating.
    #[arg(long, value_enum, default_value_t = WebhookKind::Mutating)]
    pub kind: WebhookKind,
    /// Name of the webhook configuration.
    #[arg(long, default_value = registration::DEFAULT_CONFIGURATION_NAME)]
    pub name: String,
    /// Name of the webhook inside it (three or more dot-separated segments) [default:
    /// mutation.gatekeeper.sh, or validation.gatekeeper.sh with --kind validating].
    #[arg(long)]
    pub webhook_name: Option<String>,
    /// timeoutSeconds of the webhook (1-30).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=30))]
    pub timeout_seconds: i32,
    /// How long to wait, in seconds, for the API server to start sending requests to the webhook.
    #[arg(long, default_value_t = 30)]
    pub wait_seconds: u64,
    /// Do not wait for the registration to take effect.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Args)]
pub struct UnregisterArgs {
    /// Name of the webhook configuration (mutating or validating).
    #[arg(long, default_value = registration::DEFAULT_CONFIGURATION_NAME)]
    pub name: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// A client from a kubeconfig file, or inferred.
pub async fn kube_client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Writes `contents` to `path` via a temporary file and a rename, so a reader polling for the file
/// never sees it half-written.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Waits for SIGTERM or Ctrl-C. `pub` for the `gatekeeper` process, which stops the same way.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // A generated token is printed; a configured one the caller already knows.
    let args_read_token = args.read_token.clone();
    let mut engine = PolicyEngine::new();
    for path in &args.rego {
        let src = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        engine.upsert_module(&format!("file/{file}"), &src)?;
    }
    let replicate = args.replicate.iter().map(|s| s.parse::<ResourceSpec>()).collect::<Result<Vec<_>, _>>()?;
    let client = if args.no_kube { None } else { Some(kube_client(args.kube.kubeconfig.as_deref()).await?) };
    let options = WebhookOptions {
        listen: args.listen,
        tls: TlsSource::Files { cert: args.tls_cert_file, key: args.tls_key_file },
        policy_namespace: args.policy_namespace,
        replicate,
        max_body_bytes: args.max_body_bytes,
        denials_capacity: args.denials_capacity,
        read_token: args.read_token,
    };
    let running = webhook::start(options, client, engine).await?;
    println!("policy-webhook listening on {}", running.base_url());
    if let (Some(token), None) = (running.read_token(), &args_read_token) {
        println!("read-token: {token}");
    }
    if let Some(path) = &args.addr_file {
        write_atomically(path, &format!("{}\n", running.addr()))?;
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let client = kube_client(args.kube.kubeconfig.as_deref()).await?;
    let ca_pem =
        std::fs::read_to_string(&args.ca_file).with_context(|| format!("reading {}", args.ca_file.display()))?;
    let registration = Registration {
        kind: args.kind,
        name: args.name,
        webhook_name: args.webhook_name.unwrap_or_else(|| args.kind.default_webhook_name().to_string()),
        url: args.url,
        ca_pem,
        failure_policy: args.failure_policy,
        timeout_seconds: args.timeout_seconds,
    };
    registration::register(&client, &registration).await?;
    if !args.no_wait {
        let took = registration::wait_until_reviewed(
            &client,
            &registration.webhook_name,
            Duration::from_secs(args.wait_seconds),
        )
        .await?;
        println!(
            "registered {} ({}), reviewing requests after {} ms",
            registration.name,
            registration.webhook_name,
            took.as_millis()
        );
    } else {
        println!("registered {} ({})", registration.name, registration.webhook_name);
    }
    Ok(())
}

async fn unregister(args: UnregisterArgs) -> anyhow::Result<()> {
    let client = kube_client(args.kube.kubeconfig.as_deref()).await?;
    let existed = registration::unregister(&client, &args.name).await?;
    println!("{} {}", args.name, if existed { "removed" } else { "was not registered" });
    Ok(())
}

/// How a process starts, this one and `gatekeeper`: rustls's ring provider, then the command line
/// `args` (the first is the program name; `--help` and a bad argument end the process here), then
/// JSON logs to stderr, so stdout carries only what callers read (the listening address line).
pub fn start_process<C, I, T>(args: I) -> C
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use tracing_subscriber::EnvFilter;
    pki::install_ring_provider();
    let cli = C::parse_from(args);
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .try_init();
    cli
}

/// Runs a parsed command line.
/// The whole `policy-webhook` process: parses `args` (the first is the program name), logs JSON to
/// stderr (stdout carries the listening address line) and runs. The standalone binary and the
/// multicall `harness webhook` both start here, so they cannot differ.
pub fn process_main<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli: Cli = start_process(args);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("policy-webhook: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "policy-webhook failed");
            eprintln!("policy-webhook: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Register(args) => register(args).await,
        Command::Unregister(args) => unregister(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_register_with_failure_policy_in_either_case() {
        for value in ["Fail", "fail"] {
            let cli = Cli::try_parse_from([
                "policy-webhook",
                "register",
                "--url",
                "https://127.0.0.1:1/v1/admit",
                "--ca-file",
                "ca.pem",
                "--failure-policy",
                value,
            ])
            .unwrap();
            let Command::Register(args) = cli.command else { panic!() };
            assert_eq!(args.failure_policy, FailurePolicy::Fail);
            assert_eq!(args.name, "gatekeeper");
        }
    }

    #[test]
    fn serve_defaults_replicate_the_four_resources() {
        let cli =
            Cli::try_parse_from(["policy-webhook", "serve", "--tls-cert-file", "c", "--tls-key-file", "k"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!() };
        assert_eq!(args.replicate, DEFAULT_REPLICATE.map(String::from).to_vec());
        assert_eq!(args.policy_namespace, "azure-policy");
        assert_eq!(args.listen.port(), 0);
    }
}
