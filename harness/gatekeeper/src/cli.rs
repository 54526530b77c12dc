//! The `gatekeeper` process (design points 1–2): what AKS runs as `gatekeeper-controller-manager`
//! and `gatekeeper-audit`, in one process. At start it checks its TLS files and the API server,
//! installs the ConstraintTemplate and Config CRDs, then runs the template controller,
//! `validation.gatekeeper.sh` with its watchers, and the audit, until SIGTERM or Ctrl-C.
//!
//! It does not register the webhook configuration: the add-on lifecycle does, holding the CA
//! ([`crate::webhook::registration::register_and_wait`]).
//!
//! The standalone binary (`src/main.rs`) and the multicall `harness gatekeeper` both start at
//! [`process_main`], so they cannot differ.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use policy_engine::gatekeeper_v3::PolicyClient;
use policy_webhook::WebhookError;
use policy_webhook::cli::shutdown_signal;
use policy_webhook::server::TlsSource;

use crate::audit::AuditOptions;
use crate::controller::TemplateController;
use crate::crds::{CrdError, install_crds};
use crate::webhook::denial_log::DEFAULT_DENIALS_CAPACITY;
use crate::webhook::{self, WebhookOptions};

/// How long the API server may take to answer the first request before the process gives up.
const API_SERVER_TIMEOUT: Duration = Duration::from_secs(15);

/// Gatekeeper v3 for the current Azure Policy add-on: template controller, validation webhook and
/// audit in one process.
#[derive(Debug, Parser)]
#[command(name = "gatekeeper", version, about)]
pub struct Cli {
    /// Kubeconfig file; without it, the usual inference (~/.kube/config, in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed, and written to --addr-file).
    #[arg(long, env = "GATEKEEPER_LISTEN_ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Serving certificate (PEM). Needs a SAN for the address the API server calls.
    #[arg(long, env = "GATEKEEPER_TLS_CERT_FILE")]
    pub tls_cert_file: PathBuf,
    /// Private key of the serving certificate (PEM).
    #[arg(long, env = "GATEKEEPER_TLS_KEY_FILE")]
    pub tls_key_file: PathBuf,
    /// Write the bound address (`host:port`) to this file once listening.
    #[arg(long)]
    pub addr_file: Option<PathBuf>,
    /// Time between two audits (e.g. 60s, 15m); 0 audits only on POST /v1/audit/run.
    #[arg(long, env = "GATEKEEPER_AUDIT_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub audit_interval: Duration,
    /// How many violations the audit writes into each constraint's status.violations.
    #[arg(long, default_value_t = contracts::gatekeeper::STATUS_VIOLATIONS_LIMIT)]
    pub constraint_violations_limit: usize,
    /// How many recent deny/warn admission results /v1/denials keeps.
    #[arg(long, default_value_t = DEFAULT_DENIALS_CAPACITY)]
    pub denials_capacity: usize,
    /// Bearer token for /v1/audit, /v1/audit/run and /v1/denials. Without it they are open on a
    /// loopback address and get a generated token (printed as `read-token:`) on any other.
    #[arg(long, env = "GATEKEEPER_READ_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
}

/// Why the process could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot read the TLS {what} file {path}: {source}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{cert} and {key} are not a usable PEM certificate and private key: {source}")]
    TlsPem {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: KubeconfigError,
    },
    #[error("no kubeconfig given and none found (KUBECONFIG, ~/.kube/config, in-cluster): {0}")]
    NoKubeconfig(#[source] kube::config::InferConfigError),
    #[error("cannot build an API client from the kubeconfig: {0}")]
    Client(#[source] kube::Error),
    #[error("cannot reach the API server at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: kube::Error,
    },
    #[error("the API server at {url} did not answer within {after:?}")]
    ApiServerTimeout { url: String, after: Duration },
    #[error("installing Gatekeeper's CRDs: {0}")]
    Crds(#[from] CrdError),
    #[error("starting validation.gatekeeper.sh: {0}")]
    Webhook(#[from] WebhookError),
    #[error("cannot write the address file {path}: {source}")]
    AddrFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The whole `gatekeeper` process: parses `args` (the first is the program name), logs JSON to
/// stderr (stdout carries the listening address and a generated read token) and runs until
/// SIGTERM or Ctrl-C.
pub fn process_main<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli: Cli = policy_webhook::cli::start_process(args);
    let result = tokio::runtime::Runtime::new().map_err(ProcessError::Runtime).and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let message = with_causes(&e);
            tracing::error!(error = %message, "gatekeeper failed");
            eprintln!("gatekeeper: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and the causes its own text does not already include (kube's connect errors say only
/// "client error (Connect)" on top; the cause says "Connection refused").
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = e.source();
    }
    message
}

/// Runs a parsed command line until SIGTERM or Ctrl-C.
pub async fn run(cli: Cli) -> Result<(), ProcessError> {
    let tls = tls_source(&cli.tls_cert_file, &cli.tls_key_file).await?;
    let (client, url) = kube_client(cli.kubeconfig.as_deref()).await?;
    check_reachable(&client, &url).await?;
    install_crds(&client).await?;
    let controller = TemplateController::spawn(client.clone());
    let options = WebhookOptions {
        listen: cli.listen,
        denials_capacity: cli.denials_capacity,
        read_token: cli.read_token.clone(),
        audit: AuditOptions { interval: cli.audit_interval, violations_limit: cli.constraint_violations_limit },
        ..WebhookOptions::new(tls)
    };
    let running = webhook::start(options, Some(client), PolicyClient::new()).await?;
    println!("gatekeeper listening on {}", running.base_url());
    if let (Some(token), None) = (running.read_token(), &cli.read_token) {
        println!("read-token: {token}");
    }
    if let Some(path) = &cli.addr_file {
        write_atomically(path, &format!("{}\n", running.addr()))
            .map_err(|source| ProcessError::AddrFile { path: path.clone(), source })?;
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    controller.stop().await;
    Ok(())
}

/// The serving certificate and key, read and checked once here so an unreadable or unusable file
/// is named at start, before anything is installed in the cluster.
async fn tls_source(cert: &Path, key: &Path) -> Result<TlsSource, ProcessError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read_to_string(path).map_err(|source| ProcessError::TlsFile { what, path: path.into(), source })
    };
    let (cert_pem, key_pem) = (read("certificate", cert)?, read("key", key)?);
    RustlsConfig::from_pem(cert_pem.clone().into_bytes(), key_pem.clone().into_bytes())
        .await
        .map_err(|source| ProcessError::TlsPem { cert: cert.into(), key: key.into(), source })?;
    Ok(TlsSource::Pem { cert: cert_pem, key: key_pem })
}

/// A client from a kubeconfig file, or inferred; and the API server URL it talks to.
async fn kube_client(kubeconfig: Option<&Path>) -> Result<(kube::Client, String), ProcessError> {
    let config = match kubeconfig {
        Some(path) => {
            let bad = |source| ProcessError::Kubeconfig { path: path.into(), source };
            let kc = Kubeconfig::read_from(path).map_err(bad)?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(bad)?
        }
        None => kube::Config::infer().await.map_err(ProcessError::NoKubeconfig)?,
    };
    let url = config.cluster_url.to_string();
    Ok((kube::Client::try_from(config).map_err(ProcessError::Client)?, url))
}

/// One cheap request, so an unreachable API server is one clear error rather than retries.
async fn check_reachable(client: &kube::Client, url: &str) -> Result<(), ProcessError> {
    match tokio::time::timeout(API_SERVER_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(ProcessError::Unreachable { url: url.into(), source }),
        Err(_) => Err(ProcessError::ApiServerTimeout { url: url.into(), after: API_SERVER_TIMEOUT }),
    }
}

/// Writes `contents` to `path` via a temporary file and a rename, so a reader polling for the file
/// never sees it half-written.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
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
    fn defaults_are_gatekeepers() {
        let cli = Cli::try_parse_from(["gatekeeper", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"]).unwrap();
        assert_eq!(cli.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(cli.audit_interval, Duration::from_secs(60));
        assert_eq!(cli.constraint_violations_limit, 20);
        assert_eq!(cli.denials_capacity, 10_000);
        assert_eq!(cli.addr_file, None);
    }

    #[test]
    fn flags_parse_humantime_and_addresses() {
        let cli = Cli::try_parse_from([
            "gatekeeper",
            "--tls-cert-file=c",
            "--tls-key-file=k",
            "--listen=0.0.0.0:8443",
            "--audit-interval=15m",
            "--constraint-violations-limit=3",
            "--read-token=secret",
            "--addr-file=/tmp/addr",
            "--kubeconfig=/tmp/kc",
        ])
        .unwrap();
        assert_eq!(cli.listen.port(), 8443);
        assert_eq!(cli.audit_interval, Duration::from_secs(900));
        assert_eq!(cli.constraint_violations_limit, 3);
        assert_eq!(cli.read_token.as_deref(), Some("secret"));
        assert_eq!(cli.kubeconfig, Some(PathBuf::from("/tmp/kc")));
        assert!(
            Cli::try_parse_from(["gatekeeper", "--tls-cert-file=c", "--tls-key-file=k", "--audit-interval=soon"])
                .is_err()
        );
    }

    #[test]
    fn unreadable_files_are_named() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let missing = Path::new("/nonexistent/cert.pem");
        let Err(e) = runtime.block_on(tls_source(missing, Path::new("/nonexistent/key.pem"))) else {
            panic!("a missing certificate was accepted")
        };
        assert!(e.to_string().starts_with("cannot read the TLS certificate file /nonexistent/cert.pem"), "{e}");
        let not_pem = std::env::temp_dir().join(format!("gatekeeper-cli-test-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "not a certificate\n").unwrap();
        let result = runtime.block_on(tls_source(&not_pem, &not_pem));
        std::fs::remove_file(&not_pem).unwrap();
        let Err(e) = result else { panic!("text was taken as PEM") };
        assert!(e.to_string().contains("not a usable PEM certificate and private key"), "{e}");
        let Err(e) = runtime.block_on(kube_client(Some(Path::new("/nonexistent/kubeconfig")))) else {
            panic!("a missing kubeconfig was accepted")
        };
        assert!(e.to_string().starts_with("kubeconfig /nonexistent/kubeconfig"), "{e}");
    }

    #[test]
    fn an_unreachable_api_server_is_named() {
        let path = std::env::temp_dir().join(format!("gatekeeper-cli-test-{}.kubeconfig", std::process::id()));
        let kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
            clusters: [{name: c, cluster: {server: \"http://127.0.0.1:1\"}}]\n\
            contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n";
        std::fs::write(&path, kubeconfig).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let result = runtime.block_on(async {
            let (client, url) = kube_client(Some(&path)).await?;
            check_reachable(&client, &url).await
        });
        std::fs::remove_file(&path).unwrap();
        let e = with_causes(&result.unwrap_err());
        assert!(e.starts_with("cannot reach the API server at http://127.0.0.1:1/"), "{e}");
        assert!(e.to_lowercase().contains("refused"), "the cause is missing: {e}");
    }
}
