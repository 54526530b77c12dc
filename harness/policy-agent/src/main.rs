//! `policy-agent`: the azurepolicy add-on process. See the library docs for behaviour and RBAC.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pki::install_ring_provider();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(false)
        .init();
    let cfg = policy_agent::config::Config::parse();
    let handle = match policy_agent::agent::start(cfg).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "policy-agent failed to start");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = handle.wait() => {}
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; exiting"),
        _ = term.recv() => tracing::info!("terminated; exiting"),
    }
    std::process::ExitCode::SUCCESS
}
