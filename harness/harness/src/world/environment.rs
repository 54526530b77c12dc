//! What every scenario of a run shares: one real cluster, one azure-sim, one add-on lifecycle.
//! Booted once per process (the first scenario pays for it), torn down at exit.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::OnceCell;

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

static ENVIRONMENT: OnceCell<Environment> = OnceCell::const_new();

/// The repository root ([`cluster::binaries::checkout_root`]), else the working directory.
pub fn repo_root() -> PathBuf {
    cluster::binaries::checkout_root().and_then(|root| root.canonicalize().ok()).unwrap_or_else(|| PathBuf::from("."))
}

impl Environment {
    /// Boots (or joins) the shared cluster and starts azure-sim with the add-on lifecycle plugged in.
    /// Scenarios approve preview features explicitly; the `harness up` sandbox auto-approves them.
    pub async fn start(auto_approve_features: bool) -> anyhow::Result<Self> {
        pki::install_ring_provider();
        let cluster = cluster::shared().await?;
        let run_dir = cluster.run_dir().join("harness");
        std::fs::create_dir_all(&run_dir)?;
        let addon = AddonLifecycle::new(cluster, run_dir.clone());
        let repo_root = repo_root();
        let config = azure_sim::SimConfig {
            // Bring-your-own policies (README "Bring your own policy") are served like built-ins.
            definitions_dir: Some(repo_root.join("fixtures/custom-definitions")),
            auto_approve_features,
            ..Default::default()
        };
        let sim = azure_sim::AzureSim::start(config, Arc::new(addon.clone())).await?;
        tracing::info!(arm = sim.arm_url(), kubeconfig = %cluster.kubeconfig_path().display(), "environment ready");
        Ok(Environment { cluster, sim, addon, run_dir, repo_root })
    }
}

/// The environment shared by the scenarios of this process, started on first use.
pub async fn environment() -> anyhow::Result<&'static Environment> {
    ENVIRONMENT.get_or_try_init(|| Environment::start(false)).await
}
