//! What a scenario runs on: one real cluster, one azure-sim, one add-on lifecycle. Booted on first
//! use (the first scenario pays for it), torn down at exit.
//!
//! Scenarios that run at once each lease an environment of their own ([`lease`]). The add-on is
//! cluster-wide, as on AKS (its webhook sees every namespace), so two scenarios installing it in
//! one cluster would evict each other's add-on. A pool of environments, one per scenario running
//! at once, keeps `-c N` safe; the local backend boots its control planes in a few seconds.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use azure_sim::AddonGeneration;

use crate::addon_lifecycle::AddonLifecycle;

/// The shared environment.
pub struct Environment {
    pub cluster: &'static cluster::Cluster,
    pub sim: azure_sim::RunningSim,
    pub addon: AddonLifecycle,
    pub run_dir: PathBuf,
    /// The repository root (fixtures are read relative to it).
    pub repo_root: PathBuf,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment").field("arm", &self.sim.arm_url()).finish_non_exhaustive()
    }
}

/// The repository root ([`cluster::binaries::checkout_root`]), else the working directory.
pub fn repo_root() -> PathBuf {
    cluster::binaries::checkout_root().and_then(|root| root.canonicalize().ok()).unwrap_or_else(|| PathBuf::from("."))
}

impl Environment {
    /// Boots (or joins) the shared cluster and starts azure-sim with the add-on lifecycle plugged in;
    /// its subscriptions get `addon_generation`'s add-on unless changed one by one. Scenarios
    /// approve preview features explicitly; the `harness up` sandbox auto-approves them.
    pub async fn start(auto_approve_features: bool, addon_generation: AddonGeneration) -> anyhow::Result<Self> {
        Self::start_on(cluster::shared().await?, auto_approve_features, addon_generation).await
    }

    async fn start_on(
        cluster: &'static cluster::Cluster,
        auto_approve_features: bool,
        addon_generation: AddonGeneration,
    ) -> anyhow::Result<Self> {
        pki::install_ring_provider();
        let run_dir = cluster.run_dir().join("harness");
        std::fs::create_dir_all(&run_dir)?;
        let addon = AddonLifecycle::new(cluster, run_dir.clone());
        let repo_root = repo_root();
        let config = azure_sim::SimConfig {
            // Bring-your-own policies (README "Bring your own policy") are served like built-ins.
            definitions_dir: Some(repo_root.join("fixtures/custom-definitions")),
            auto_approve_features,
            addon_generation,
            ..Default::default()
        };
        let sim = azure_sim::AzureSim::start(config, Arc::new(addon.clone())).await?;
        tracing::info!(arm = sim.arm_url(), kubeconfig = %cluster.kubeconfig_path().display(), "environment ready");
        Ok(Environment { cluster, sim, addon, run_dir, repo_root })
    }
}

/// How many environments may run at once: the run's concurrency (see [`set_capacity`]).
static CAPACITY: AtomicUsize = AtomicUsize::new(1);
static POOL: Mutex<Pool> = Mutex::new(Pool { idle: Vec::new(), started: 0 });
static RETURNED: Notify = Notify::const_new();

struct Pool {
    idle: Vec<&'static Environment>,
    started: usize,
}

/// Sets how many scenarios may hold an environment at once (the run's concurrency). Only the local
/// backend boots more than one: an existing cluster is one cluster, and k3s containers are slow to
/// start.
pub fn set_capacity(n: usize) {
    CAPACITY.store(n.max(1), Ordering::Relaxed);
}

/// An environment held by one scenario; back in the pool when dropped.
#[derive(Debug)]
pub struct Lease(&'static Environment);

impl Lease {
    pub fn env(&self) -> &'static Environment {
        self.0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        POOL.lock().expect("environment pool lock").idle.push(self.0);
        RETURNED.notify_one();
    }
}

/// An environment for one scenario: an idle one, a new one while fewer than the capacity exist,
/// else the next one returned.
pub async fn lease() -> anyhow::Result<Lease> {
    let local = cluster::shared().await?.backend() == cluster::Backend::Local;
    let capacity = if local { CAPACITY.load(Ordering::Relaxed) } else { 1 };
    loop {
        let index = {
            let mut pool = POOL.lock().expect("environment pool lock");
            if let Some(env) = pool.idle.pop() {
                return Ok(Lease(env));
            }
            (pool.started < capacity).then(|| {
                pool.started += 1;
                pool.started - 1
            })
        };
        let Some(index) = index else {
            RETURNED.notified().await;
            continue;
        };
        let started = async {
            let cluster = if index == 0 { cluster::shared().await? } else { cluster::another().await? };
            // Each scenario puts its own subscription on its generation (`AksWorld::setup`).
            Environment::start_on(cluster, false, AddonGeneration::default()).await
        };
        return match started.await {
            Ok(env) => Ok(Lease(Box::leak(Box::new(env)))),
            Err(e) => {
                POOL.lock().expect("environment pool lock").started -= 1;
                Err(e)
            }
        };
    }
}

/// Scenarios with this tag, on the Feature or the Scenario, get a subscription on today's add-on
/// (Gatekeeper v3, `Microsoft.Kubernetes.Data`); every other scenario documents the 2019 preview and
/// gets that.
pub const CURRENT_ADDON: &str = "current-addon";
/// Scenarios with this tag need the local control plane itself (its API server audit log).
pub const LOCAL_CLUSTER: &str = "local-cluster";
/// Scenarios with this tag read the add-on Deployments' status, which the harness writes because
/// the add-on runs as processes beside the cluster rather than as pods.
pub const DEPLOYMENT_STATUS: &str = "deployment-status";

/// The scenario tags `backend` cannot run, each with the reason printed and reported for the
/// scenarios skipped because of it.
pub fn unavailable_tags(backend: cluster::Backend) -> Vec<(String, String)> {
    use cluster::Backend;
    let local_only = (
        LOCAL_CLUSTER.to_string(),
        format!(
            "it needs the local control plane's API server audit log (tagged @{LOCAL_CLUSTER}); this run uses --cluster {backend}"
        ),
    );
    let status = (
        DEPLOYMENT_STATUS.to_string(),
        format!(
            "the harness writes the add-on Deployments' status, and {backend}'s own deployment controller overwrites it (tagged @{DEPLOYMENT_STATUS})"
        ),
    );
    match backend {
        Backend::Local => Vec::new(),
        Backend::Existing => vec![local_only],
        Backend::Kind | Backend::K3s => vec![local_only, status],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::Backend;

    fn tags(backend: Backend) -> Vec<String> {
        unavailable_tags(backend).into_iter().map(|(tag, _)| tag).collect()
    }

    #[test]
    fn each_backend_skips_what_it_cannot_run_and_says_why() {
        assert!(tags(Backend::Local).is_empty());
        assert_eq!(tags(Backend::Existing), [LOCAL_CLUSTER]);
        assert_eq!(tags(Backend::Kind), [LOCAL_CLUSTER, DEPLOYMENT_STATUS]);
        assert_eq!(tags(Backend::K3s), [LOCAL_CLUSTER, DEPLOYMENT_STATUS]);
        let (_, reason) = &unavailable_tags(Backend::Existing)[0];
        assert!(reason.ends_with("this run uses --cluster existing"), "{reason}");
        let (_, reason) = &unavailable_tags(Backend::Kind)[1];
        assert!(reason.contains("kind's own deployment controller"), "{reason}");
    }
}
