//! What azure-sim and the add-on lifecycle say to each other (`docs/contracts.md` §4): enabling
//! `addonProfiles.azurepolicy` sends an [`AddonInstall`], and every call of azure-sim's
//! `AddonController` answers `Result<(), AddonError>`.
//!
//! The controller reports *what* went wrong; azure-sim knows which operation asked (install,
//! uninstall, PolicyInsights `triggerEvaluation`) and turns the two into the ARM error of that
//! operation (`AddonInstallFailed`, `AddonUninstallFailed`, `EvaluationFailed`), quoting the error's
//! message.

/// What the controller needs to start the add-on for one cluster.
#[derive(Debug, Clone, PartialEq)]
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
    /// Which add-on the cluster gets.
    pub generation: AddonGeneration,
}

/// The two add-ons azure-sim can install (`docs/contracts.md` §4). Azure itself has run only the
/// current one since 2020; the harness keeps the 2019 preview for the scenarios that document it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AddonGeneration {
    /// Today's add-on: Gatekeeper v3 in `gatekeeper-system` (ConstraintTemplates, Constraints,
    /// `validation.gatekeeper.sh`) driven by `Microsoft.Kubernetes.Data` assignments, the agent
    /// in `kube-system`.
    #[default]
    Current,
    /// The 2019 preview: Gatekeeper v2 and the agent in `azure-policy`, Rego in ConfigMaps, driven
    /// by `EnforceRegoPolicy` assignments, behind the preview features.
    Preview2019,
}

impl AddonGeneration {
    /// `current` or `preview`, as `--addon-generation` spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            AddonGeneration::Current => "current",
            AddonGeneration::Preview2019 => "preview",
        }
    }
}

impl std::str::FromStr for AddonGeneration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "current" => Ok(AddonGeneration::Current),
            "preview" | "preview-2019" | "2019" => Ok(AddonGeneration::Preview2019),
            other => Err(format!("unknown add-on generation {other:?}: expected `current` or `preview`")),
        }
    }
}

/// Why the add-on controller could not do what azure-sim asked. The message (`Display`) is what
/// users read after azure-sim's wording of the failed operation, e.g. `Installing the azurepolicy
/// add-on failed: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddonError {
    /// A process of the add-on (`policy-webhook`, `policy-agent`) could not be started or did not
    /// become ready.
    #[error("{0}")]
    NotReady(String),
    /// The Kubernetes cluster refused or did not complete a change: the add-on's objects, the
    /// webhook registration, the namespace deletion.
    #[error("{0}")]
    Kubernetes(String),
    /// Preparing the add-on outside the cluster failed: certificates, files, settings.
    #[error("{0}")]
    Setup(String),
    /// No add-on runs for the cluster (its id).
    #[error("the add-on is not installed for {0}")]
    NotInstalled(String),
    /// The agent did not run the requested cycle, or the cycle failed.
    #[error("agent trigger failed: {0}")]
    TriggerFailed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_what_users_read() {
        assert_eq!(AddonError::NotReady("webhook never became ready".into()).to_string(), "webhook never became ready");
        assert_eq!(AddonError::NotInstalled("/c".into()).to_string(), "the add-on is not installed for /c");
        assert_eq!(AddonError::TriggerFailed("refused".into()).to_string(), "agent trigger failed: refused");
    }
}
