//! `harness bench admission-cluster`: admission latency through the real API server with today's
//! add-on enforcing ten built-ins. Each request is a dry-run create of a pod, timed from the
//! client: the API server's admission chain, its TLS call to `validation.gatekeeper.sh`, ten
//! constraints evaluated, the answer back. The same requests are timed first without the add-on,
//! so the webhook's share shows.

use std::time::{Duration, Instant};

use azure_sim::AddonGeneration;
use harness::world::{Admission, AksWorld, kubernetes};
use serde_json::{Map, Value, json};

use super::bench::{peak_rss_mib_of, percentile};

/// Ten Pod built-ins whose parameters all have defaults, assigned with effect `deny`.
const BUILT_INS: [&str; 10] = [
    "Kubernetes cluster should not allow privileged containers",
    "Kubernetes clusters should not allow container privilege escalation",
    "Kubernetes cluster containers should not share host namespaces",
    "Kubernetes cluster pod hostPath volumes should only use allowed host paths",
    "Kubernetes cluster containers should only use allowed capabilities",
    "Kubernetes clusters should not use specific security capabilities",
    "Kubernetes clusters should not grant CAP_SYS_ADMIN security capabilities",
    "Kubernetes cluster container images should not include latest image tag",
    "Kubernetes cluster pods should only use allowed volume types",
    "Kubernetes cluster containers should only use allowed seccomp profiles",
];

/// What every request creates (dry run): a pod the ten constraints all evaluate.
const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\nspec:\n  containers:\n  - name: c\n    image: registry.example/web:1.2.3\n";
/// What proves the constraints are in force: denied by the privileged-containers one.
const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: privileged\nspec:\n  containers:\n  - name: c\n    image: registry.example/web:1.2.3\n    securityContext:\n      privileged: true\n";

#[derive(clap::Args)]
pub struct AdmissionClusterArgs {
    /// Requests timed, with and without the add-on each.
    #[arg(long, default_value_t = 500)]
    requests: usize,
}

/// The times of `n` dry-run creates of `pod`, sorted.
async fn time_creates(
    client: &kube::Client,
    pod: &serde_json::Value,
    ns: &str,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        kubernetes::create_dry_run(client, pod, Some(ns)).await?;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    Ok(times)
}

pub async fn run(args: AdmissionClusterArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
    let mut world = AksWorld::new().await?;
    let result = measure(&mut world, args.requests).await;
    world.cleanup().await?;
    result
}

async fn measure(world: &mut AksWorld, requests: usize) -> anyhow::Result<()> {
    world.use_addon_generation(AddonGeneration::Current)?;
    world.create_cluster("MyAKSCluster", "MyResourceGroup", "1.30.6").await?;
    let client = world.client();
    let ns = world.namespaces.ensure(&client, "bench").await?;
    let pod = kubernetes::parse_manifests(POD)?.remove(0);
    let privileged = kubernetes::parse_manifests(PRIVILEGED)?.remove(0);
    // Warm the connection before either timing.
    time_creates(&client, &pod, &ns, 20).await?;
    let baseline = time_creates(&client, &pod, &ns, requests).await?;

    world.enable_addon().await?;
    let deny: Map<String, Value> = json!({"effect": "deny"}).as_object().cloned().unwrap_or_default();
    for (i, name) in BUILT_INS.iter().enumerate() {
        world.assign(&format!("bench-{i}"), name, &deny, None).await?;
    }
    world.env.addon.trigger(world.cluster_id()?, contracts::agent::Cycle::Refresh).await?;
    let installed = world.constraints().await?.len();
    anyhow::ensure!(installed == BUILT_INS.len(), "{installed} constraints installed, expected {}", BUILT_INS.len());
    let started = Instant::now();
    while !matches!(kubernetes::create_dry_run(&client, &privileged, Some(&ns)).await?, Admission::Denied(_)) {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the constraints were not in force within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    time_creates(&client, &pod, &ns, 20).await?;
    let with_addon = time_creates(&client, &pod, &ns, requests).await?;
    let gatekeeper_pid = world.env.addon.with_installed(world.cluster_id()?, |i| i.webhook.pid()).await?;
    println!(
        "admission-cluster: constraints={installed} requests={requests} p50_us={} p99_us={} baseline_p50_us={} baseline_p99_us={} gatekeeper_rss_mib={}",
        percentile(&with_addon, 0.50),
        percentile(&with_addon, 0.99),
        percentile(&baseline, 0.50),
        percentile(&baseline, 0.99),
        peak_rss_mib_of(&gatekeeper_pid.to_string())
    );
    Ok(())
}
