//! `policy-webhook`: see `policy-webhook --help` and the library docs.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pki::install_ring_provider();
    // Structured JSON on stderr (stdout carries the listening address line).
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let cli = policy_webhook::cli::Cli::parse();
    match policy_webhook::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "policy-webhook failed");
            eprintln!("policy-webhook: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
