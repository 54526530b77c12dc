//! The seam between the mocked AKS resource provider and whatever really runs the add-on. Enabling
//! `addonProfiles.azurepolicy` asks the controller to install it, disabling asks it to uninstall, and
//! PolicyInsights `triggerEvaluation` asks it for an audit now. The harness implements this against a
//! real cluster; [`NoopAddonController`] lets the simulator run alone (contract: docs/contracts.md §4).
//!
//! The request and the error are wire types of their own, in [`contracts::addon`]; how a failed call
//! reads as an ARM error is decided here, once, by [`AddonFailure`].

pub use contracts::addon::{AddonError, AddonGeneration, AddonInstall};

use crate::state::OperationError;

/// Installs, removes and pokes the add-on of a cluster.
#[async_trait::async_trait]
pub trait AddonController: Send + Sync + 'static {
    /// Install the add-on into the cluster; return only when the webhook is ready.
    async fn install(&self, req: &AddonInstall) -> Result<(), AddonError>;
    /// Remove it: webhook configuration first, then processes, then the namespace.
    async fn uninstall(&self, cluster_id: &str) -> Result<(), AddonError>;
    /// PolicyInsights triggerEvaluation: ask the add-on to run an audit cycle and report now.
    async fn trigger_scan(&self, cluster_id: &str) -> Result<(), AddonError>;
}

/// A controller that accepts everything and does nothing: the simulator without Kubernetes.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopAddonController;

#[async_trait::async_trait]
impl AddonController for NoopAddonController {
    async fn install(&self, _req: &AddonInstall) -> Result<(), AddonError> {
        Ok(())
    }

    async fn uninstall(&self, _cluster_id: &str) -> Result<(), AddonError> {
        Ok(())
    }

    async fn trigger_scan(&self, _cluster_id: &str) -> Result<(), AddonError> {
        Ok(())
    }
}

/// A controller call that failed, with the operation that made it: what the operation's ARM error
/// says depends on both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddonFailure {
    /// `enable-addons` (a managed cluster PUT that turns the add-on on).
    Install(AddonError),
    /// `disable-addons`, or the deletion of a cluster with the add-on.
    Uninstall(AddonError),
    /// The deletion of a resource group, which removes the add-on of every cluster in it. Its
    /// message is the controller's alone, without the wording of [`AddonFailure::Uninstall`].
    GroupUninstall(AddonError),
    /// PolicyInsights `triggerEvaluation`: every cluster in scope whose scan failed, with its error.
    Scan(Vec<(String, AddonError)>),
}

impl From<AddonFailure> for OperationError {
    fn from(failure: AddonFailure) -> Self {
        match failure {
            AddonFailure::Install(e) => {
                OperationError::new("AddonInstallFailed", format!("Installing the azurepolicy add-on failed: {e}"))
            }
            AddonFailure::Uninstall(e) => {
                OperationError::new("AddonUninstallFailed", format!("Removing the azurepolicy add-on failed: {e}"))
            }
            AddonFailure::GroupUninstall(e) => OperationError::new("AddonUninstallFailed", e.to_string()),
            AddonFailure::Scan(errors) => {
                let each: Vec<String> = errors.iter().map(|(cluster, e)| format!("{cluster}: {e}")).collect();
                OperationError::new("EvaluationFailed", format!("The on-demand evaluation failed: {}", each.join("; ")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_has_its_arm_code_and_wording() {
        let e = OperationError::from(AddonFailure::Install(AddonError::NotReady("webhook never became ready".into())));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("AddonInstallFailed", "Installing the azurepolicy add-on failed: webhook never became ready")
        );
        let e = OperationError::from(AddonFailure::Uninstall(AddonError::Kubernetes(
            "namespace azure-policy still exists".into(),
        )));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("AddonUninstallFailed", "Removing the azurepolicy add-on failed: namespace azure-policy still exists")
        );
        let e = OperationError::from(AddonFailure::GroupUninstall(AddonError::Kubernetes("forbidden".into())));
        assert_eq!((e.code.as_str(), e.message.as_str()), ("AddonUninstallFailed", "forbidden"));
        let scan = AddonFailure::Scan(vec![
            ("/c1".into(), AddonError::NotInstalled("/c1".into())),
            ("/c2".into(), AddonError::TriggerFailed("refused".into())),
        ]);
        let e = OperationError::from(scan);
        assert_eq!(e.code, "EvaluationFailed");
        assert_eq!(
            e.message,
            "The on-demand evaluation failed: /c1: the add-on is not installed for /c1; /c2: agent trigger failed: refused"
        );
    }
}
