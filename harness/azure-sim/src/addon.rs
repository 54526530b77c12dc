//! The seam between the mocked AKS resource provider and whatever really runs the add-on. Enabling
//! `addonProfiles.azurepolicy` asks the controller to install it, disabling asks it to uninstall, and
//! PolicyInsights `triggerEvaluation` asks it for an audit now. The harness implements this against a
//! real cluster; [`NoopAddonController`] lets the simulator run alone (contract: docs/contracts.md §4).

/// What the controller needs to start the add-on for one cluster.
#[derive(Debug, Clone)]
pub struct AddonInstall {
    /// ARM resource id of the managed cluster.
    pub cluster_id: String,
    /// azure-sim base URL (the add-on's `DATAPLANE_ENDPOINT`).
    pub dataplane_endpoint: String,
    /// azure-sim CA (None with `--http`).
    pub ca_pem: Option<String>,
    pub tenant_id: String,
    /// A service principal minted for this cluster's subscription.
    pub client_id: String,
    pub client_secret: String,
    /// `addonProfiles.azurepolicy.config`.
    pub config: serde_json::Value,
}

/// Installs, removes and pokes the add-on of a cluster.
#[async_trait::async_trait]
pub trait AddonController: Send + Sync + 'static {
    /// Install the add-on into the cluster; return only when the webhook is ready.
    async fn install(&self, req: &AddonInstall) -> Result<(), String>;
    /// Remove it: webhook configuration first, then processes, then the namespace.
    async fn uninstall(&self, cluster_id: &str) -> Result<(), String>;
    /// PolicyInsights triggerEvaluation: ask the add-on to run an audit cycle and report now.
    async fn trigger_scan(&self, cluster_id: &str) -> Result<(), String>;
}

/// A controller that accepts everything and does nothing: the simulator without Kubernetes.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopAddonController;

#[async_trait::async_trait]
impl AddonController for NoopAddonController {
    async fn install(&self, _req: &AddonInstall) -> Result<(), String> {
        Ok(())
    }

    async fn uninstall(&self, _cluster_id: &str) -> Result<(), String> {
        Ok(())
    }

    async fn trigger_scan(&self, _cluster_id: &str) -> Result<(), String> {
        Ok(())
    }
}
