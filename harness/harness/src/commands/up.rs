//! `harness up`: the sandbox. Everything the scenarios use, kept running for you to drive by hand
//! with kubectl, curl or the real `az` CLI, until Ctrl-C.

use std::process::ExitCode;

use anyhow::Context as _;
use azure_sim::AddonGeneration;
use harness::addon_lifecycle::AddonSettings;

use super::cluster::ClusterChoice;

#[derive(clap::Args)]
pub struct UpCommand {
    #[command(flatten)]
    choice: ClusterChoice,
    /// Leave preview features `Pending` until approved through `POST /admin/features/approve`
    /// (the default approves them at once, so `az feature register` is enough).
    #[arg(long)]
    manual_approval: bool,
    /// Which add-on `az aks enable-addons --addons azure-policy` installs: `current` (Gatekeeper v3
    /// and `Microsoft.Kubernetes.Data` policies, generally available) or `preview` (the 2019
    /// preview: Gatekeeper v2, Rego ConfigMaps, behind preview features).
    #[arg(long, default_value = "current", value_parser = parse_generation)]
    addon_generation: AddonGeneration,
    /// How often the add-on fetches assignments and installs their policies [default: 15m for the
    /// current add-on, 5m for the 2019 preview].
    #[arg(long, value_parser = humantime::parse_duration)]
    refresh_interval: Option<std::time::Duration>,
    /// How often the add-on audits the cluster and reports compliance [default: 15m for the current
    /// add-on, 5m for the 2019 preview]. `az policy state trigger-scan` runs one at once.
    #[arg(long, value_parser = humantime::parse_duration)]
    audit_interval: Option<std::time::Duration>,
}

fn parse_generation(text: &str) -> Result<AddonGeneration, String> {
    text.parse()
}

pub async fn run(cmd: UpCommand) -> anyhow::Result<ExitCode> {
    if let Some(skip) = cmd.choice.skip().await? {
        println!("{skip}");
        return Ok(ExitCode::SUCCESS);
    }
    cmd.choice.apply()?;
    eprintln!(
        "harness up: starting the {} cluster and azure-sim (the first local run builds the control plane)",
        cmd.choice.cluster
    );
    let env = harness::world::Environment::start(!cmd.manual_approval, cmd.addon_generation).await?;
    let defaults = AddonSettings::for_generation(cmd.addon_generation);
    env.addon.configure_defaults(AddonSettings {
        refresh_interval: cmd.refresh_interval.unwrap_or(defaults.refresh_interval),
        audit_interval: cmd.audit_interval.unwrap_or(defaults.audit_interval),
        ..defaults
    });
    let creds = env.sim.default_credentials();
    let token = env.sim.token_for(&creds.subscription_id)?;
    let kubeconfig = env.cluster.kubeconfig_path().display().to_string();
    let ca = env.sim.ca_path().map(|p| p.display().to_string()).unwrap_or_default();
    println!("addon-generation: {}", cmd.addon_generation.as_str());
    println!("kubeconfig: {kubeconfig}");
    println!("webhook-host: {}", env.cluster.webhook());
    println!("arm: {}", env.sim.arm_url());
    println!("ca: {ca}");
    println!("tenant: {}", creds.tenant_id);
    println!("subscription: {}", creds.subscription_id);
    println!("client-id: {}", creds.client_id);
    println!("client-secret: {}", creds.client_secret);
    println!("token: {token}");
    if let Some(audit) = env.cluster.audit_log_path() {
        println!("audit-log: {}", audit.display());
    }
    println!();
    println!("Try it:");
    println!("  kubectl --kubeconfig {kubeconfig} get namespaces");
    println!(
        "  curl --cacert {ca} -H 'Authorization: Bearer {token}' '{}/subscriptions/{}/providers/Microsoft.Features/features?api-version=2015-12-01'",
        env.sim.arm_url(),
        creds.subscription_id
    );
    println!("  # the real az CLI: see README, \"Using the real az CLI\"");
    println!("ready (Ctrl-C to stop)");
    tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
    eprintln!("stopping...");
    for cluster_id in env.addon.installed_clusters().await {
        let _ = env.addon.uninstall(&cluster_id, false).await;
    }
    env.sim.shutdown().await;
    env.cluster.stop().await;
    Ok(ExitCode::SUCCESS)
}
