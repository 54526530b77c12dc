//! `harness bench propagation`: how long from an assignment PUT to an enforced denial, through the
//! whole product (azure-sim, the agent's refresh, the ConfigMap, the webhook's watch, the API server).
//!
//! Two modes, each repeated: `trigger` (the on-demand refresh, what scenarios use) and `interval`
//! (the agent's own timer set to 2 s, the product's real path with a short interval). The clock
//! starts before `az policy assignment create` and stops at the first denied dry-run create of a
//! privileged pod, polled every 10 ms.

use std::time::{Duration, Instant};

use harness::world::{Admission, AksWorld, kubernetes};

#[derive(clap::Args)]
pub struct PropagationArgs {
    /// Runs per mode.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\nspec:\n  containers:\n  - name: c\n    image: myregistry.azurecr.io/nginx:1.15\n    securityContext:\n      privileged: true\n";

async fn one_run(interval: Option<Duration>) -> anyhow::Result<Duration> {
    let mut world = AksWorld::new().await?;
    let result = async {
        world.opt_in().await?;
        world.create_cluster("MyAKSCluster", "MyResourceGroup", "1.13.5").await?;
        if let Some(every) = interval {
            world.addon_settings.refresh_interval = every;
        }
        world.enable_addon().await?;
        let client = world.client();
        let ns = world.namespaces.ensure(&client, "bench").await?;
        let pod = kubernetes::parse_manifests(PRIVILEGED)?.remove(0);
        let started = Instant::now();
        world.assign("no-privileged", "Do not allow privileged containers in AKS", &Default::default(), None).await?;
        if interval.is_none() {
            world.env.addon.trigger(world.cluster_id()?, contracts::agent::Cycle::Refresh).await?;
        }
        loop {
            if let Admission::Denied(_) = kubernetes::create_dry_run(&client, &pod, Some(&ns)).await? {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "no denial within 60 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    .await;
    world.cleanup().await?;
    result
}

pub async fn run(args: PropagationArgs) -> anyhow::Result<()> {
    for (mode, interval) in [("trigger", None), ("interval-2s", Some(Duration::from_secs(2)))] {
        let mut ms = Vec::new();
        for _ in 0..args.runs {
            ms.push(one_run(interval).await?.as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let median = ms[ms.len() / 2];
        println!(
            "propagation: mode={mode} runs={} median_ms={median:.0} min_ms={:.0} max_ms={:.0}",
            ms.len(),
            ms[0],
            ms[ms.len() - 1]
        );
    }
    Ok(())
}
