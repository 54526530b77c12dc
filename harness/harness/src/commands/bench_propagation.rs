//! `harness bench propagation`: how long from an assignment PUT to an enforced denial, through the
//! whole product: azure-sim, the agent's refresh, the cluster objects it writes, the webhook's
//! watch, the API server.
//!
//! * Today's add-on (`--addon-generation current`, the default): "Kubernetes cluster containers
//!   should only use allowed images" assigned by its GUID with effect `deny`; the agent installs the
//!   ConstraintTemplate and the Constraint, Gatekeeper compiles and watches them, and
//!   `validation.gatekeeper.sh` denies a pod whose image is not allowed.
//! * The 2019 preview (`--addon-generation preview`): "Do not allow privileged containers in AKS";
//!   a ConfigMap, and `mutation.gatekeeper.sh` denies a privileged pod.
//!
//! Two modes, each repeated: `trigger` (the on-demand refresh, what scenarios and `az policy state
//! trigger-scan` users get) and `interval-2s` (the agent's own timer set to 2 s, the product's real
//! path with a short interval). The clock starts before `az policy assignment create` and stops at
//! the first denied dry-run create of the pod, polled every 10 ms.

use std::time::{Duration, Instant};

use azure_sim::AddonGeneration;
use harness::world::{Admission, AksWorld, kubernetes};
use serde_json::{Map, Value, json};

#[derive(clap::Args)]
pub struct PropagationArgs {
    /// Runs per mode.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Which add-on: `current` (Gatekeeper v3, a built-in by GUID) or `preview` (2019).
    #[arg(long, default_value = "current")]
    addon_generation: AddonGeneration,
}

/// What one generation's run assigns and which pod it expects denied.
struct Case {
    display_name: &'static str,
    params: Map<String, Value>,
    pod: &'static str,
}

const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\nspec:\n  containers:\n  - name: c\n    image: myregistry.azurecr.io/nginx:1.15\n    securityContext:\n      privileged: true\n";
const DISALLOWED_IMAGE: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\nspec:\n  containers:\n  - name: c\n    image: docker.io/library/nginx:1.27\n";

fn case(generation: AddonGeneration) -> Case {
    match generation {
        AddonGeneration::Current => Case {
            display_name: "Kubernetes cluster containers should only use allowed images",
            params: json!({"effect": "deny", "allowedContainerImagesRegex": "^registry\\.example/.+$"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            pod: DISALLOWED_IMAGE,
        },
        AddonGeneration::Preview2019 => {
            Case { display_name: "Do not allow privileged containers in AKS", params: Map::new(), pod: PRIVILEGED }
        }
    }
}

async fn one_run(generation: AddonGeneration, interval: Option<Duration>) -> anyhow::Result<Duration> {
    let mut world = AksWorld::new().await?;
    let result = async {
        world.use_addon_generation(generation)?;
        if generation == AddonGeneration::Preview2019 {
            world.opt_in().await?;
        }
        world.create_cluster("MyAKSCluster", "MyResourceGroup", "1.30.6").await?;
        if let Some(every) = interval {
            world.addon_settings.refresh_interval = every;
        }
        world.enable_addon().await?;
        let client = world.client();
        let ns = world.namespaces.ensure(&client, "bench").await?;
        let case = case(generation);
        let pod = kubernetes::parse_manifests(case.pod)?.remove(0);
        let started = Instant::now();
        world.assign("bench", case.display_name, &case.params, None).await?;
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
    let generation = args.addon_generation;
    for (mode, interval) in [("trigger", None), ("interval-2s", Some(Duration::from_secs(2)))] {
        let mut ms = Vec::new();
        for _ in 0..args.runs {
            ms.push(one_run(generation, interval).await?.as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let median = ms[ms.len() / 2];
        println!(
            "propagation: addon={} mode={mode} runs={} median_ms={median:.0} min_ms={:.0} max_ms={:.0}",
            generation.as_str(),
            ms.len(),
            ms[0],
            ms[ms.len() - 1]
        );
    }
    Ok(())
}
