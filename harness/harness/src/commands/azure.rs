//! `harness azure ...`: the mocked Azure control plane (crate `azure-sim`) as a standalone server.
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum AzureCommand {
    /// Serve the mocked Azure control plane (ARM, preview features, AKS, Policy, PolicyInsights)
    /// until interrupted. Prints `arm:`, `ca:`, `tenant:`, `subscription:`, `token:`, `client-id:`,
    /// `client-secret:` and, when `/admin` needs one, `admin-token:` lines for scripts.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Serve plain HTTP instead of HTTPS (the real `az` needs HTTPS to log in).
    #[arg(long)]
    http: bool,
    /// Listen address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Persist state here (atomically) and reload it on start.
    #[arg(long, value_name = "FILE")]
    state_file: Option<PathBuf>,
    /// Where to write the CA certificate (default: beside the state file, else a temp directory).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Registered preview features skip `Pending` (no manual approval needed).
    #[arg(long)]
    auto_approve_features: bool,
    /// Directory of custom policy definitions (*.json) and their Rego (*.rego).
    #[arg(long, value_name = "DIR")]
    definitions: Option<PathBuf>,
    /// How long providers stay `Registering` (e.g. `500ms`, `10s`, `2m`).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    provider_delay: Duration,
    /// Bearer token for `/admin/...`. Without it, `/admin` is open on a loopback address and gets a
    /// generated token (printed as `admin-token:`) on any other.
    #[arg(long, env = "HARNESS_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Which add-on enabling `azurepolicy` installs on new subscriptions' clusters: `current` (no
    /// preview feature needed) or `preview` (the 2019 preview, behind its preview features).
    #[arg(long, default_value = "current", value_parser = parse_generation)]
    addon_generation: azure_sim::AddonGeneration,
}

fn parse_generation(text: &str) -> Result<azure_sim::AddonGeneration, String> {
    text.parse()
}

/// Parses `250ms`, `10s`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("not a duration: {text:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

pub async fn run(cmd: AzureCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AzureCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = azure_sim::SimConfig {
        addr: args.addr,
        tls: !args.http,
        state_file: args.state_file,
        ca_file: args.ca_file,
        auto_approve_features: args.auto_approve_features,
        definitions_dir: args.definitions,
        provider_delay: args.provider_delay,
        admin_token: args.admin_token,
        addon_generation: args.addon_generation,
        ..azure_sim::SimConfig::default()
    };
    let sim = azure_sim::AzureSim::start(config, Arc::new(azure_sim::NoopAddonController)).await?;
    let creds = sim.default_credentials();
    let mut out = std::io::stdout().lock();
    writeln!(out, "arm: {}", sim.arm_url())?;
    if let Some(ca) = sim.ca_path() {
        writeln!(out, "ca: {}", ca.display())?;
    }
    writeln!(out, "tenant: {}", creds.tenant_id)?;
    writeln!(out, "subscription: {}", creds.subscription_id)?;
    writeln!(out, "token: {}", sim.token_for(&creds.subscription_id)?)?;
    writeln!(out, "client-id: {}", creds.client_id)?;
    writeln!(out, "client-secret: {}", creds.client_secret)?;
    if let Some(token) = sim.admin_token() {
        writeln!(out, "admin-token: {token}")?;
    }
    out.flush()?;
    drop(out);
    wait_for_signal().await?;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM (what `kill` and service managers send).
async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("3 weeks").is_err());
    }
}
