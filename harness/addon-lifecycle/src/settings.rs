//! The knobs of one install, as the add-on's chart had them. Their defaults follow the generation:
//! the 2019 preview refreshed and audited every 5 minutes, today's add-on does both every 15
//! (reference `gatekeeper-v3-and-azure-addon.md` §3.1).

use std::time::Duration;

use contracts::addon::AddonGeneration;
use policy_webhook::FailurePolicy;

use super::LifecycleError;

/// The 2019 preview's refresh and audit period.
const PREVIEW_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Today's add-on's refresh and audit period.
const CURRENT_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Settings of one install.
#[derive(Clone, Debug)]
pub struct AddonSettings {
    /// The 2019 preview's namespace (today's add-on lives in `gatekeeper-system` and `kube-system`).
    pub namespace: String,
    /// How often the agent fetches assignments and installs what they ask for.
    pub refresh_interval: Duration,
    /// How often the agent reports compliance. Today's Gatekeeper audits at its own default (60 s),
    /// or at this interval when it is shorter, so no report reads an audit older than one period.
    pub audit_interval: Duration,
    /// The admission webhook's `failurePolicy` (both generations register `Ignore` by default).
    pub failure_policy: FailurePolicy,
    /// The kinds the 2019 webhook replicates for referential policies (`group/version/resource`).
    pub replicate: Vec<String>,
}

impl AddonSettings {
    /// The defaults of `generation`'s add-on.
    pub fn for_generation(generation: AddonGeneration) -> Self {
        let interval = match generation {
            AddonGeneration::Current => CURRENT_INTERVAL,
            AddonGeneration::Preview2019 => PREVIEW_INTERVAL,
        };
        Self {
            namespace: "azure-policy".into(),
            refresh_interval: interval,
            audit_interval: interval,
            failure_policy: FailurePolicy::Ignore,
            replicate: policy_webhook::replication::DEFAULT_REPLICATE.map(String::from).to_vec(),
        }
    }

    /// The replicated kinds, parsed as the webhook parses its `--replicate` flags.
    pub fn replicate_specs(&self) -> Result<Vec<policy_webhook::replication::ResourceSpec>, LifecycleError> {
        self.replicate
            .iter()
            .map(|r| {
                r.parse().map_err(|e: policy_webhook::WebhookError| LifecycleError::Io {
                    context: format!("replicate entry {r:?}"),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Today's add-on's defaults.
impl Default for AddonSettings {
    fn default() -> Self {
        Self::for_generation(AddonGeneration::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_generation_keeps_its_own_periods() {
        let current = AddonSettings::for_generation(AddonGeneration::Current);
        assert_eq!((current.refresh_interval, current.audit_interval), (CURRENT_INTERVAL, CURRENT_INTERVAL));
        let preview = AddonSettings::for_generation(AddonGeneration::Preview2019);
        assert_eq!((preview.refresh_interval, preview.audit_interval), (PREVIEW_INTERVAL, PREVIEW_INTERVAL));
        assert_eq!(AddonSettings::default().refresh_interval, Duration::from_secs(900));
    }
}
