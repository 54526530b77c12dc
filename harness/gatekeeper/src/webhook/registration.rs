//! The ValidatingWebhookConfiguration Gatekeeper installs (reference §1.8): webhook
//! `validation.gatekeeper.sh` on `/v1/admit`, CREATE and UPDATE of every group and resource,
//! `failurePolicy: Ignore`, `sideEffects: None`, `matchPolicy: Exact`.
//!
//! The object is the 2019 webhook's validating registration
//! ([`policy_webhook::registration::Registration::validating`]) under Gatekeeper's configuration
//! name with `matchPolicy: Exact`; proof that it is in force is the same dry-run probe loop
//! ([`policy_webhook::registration::wait_until_reviewed`]).

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, Patch, PatchParams};
use policy_engine::gatekeeper_v3::enforcement_point;
use policy_webhook::registration::{self, Configuration, Registration, RegistrationError};

/// Gatekeeper's configuration name.
pub const CONFIGURATION_NAME: &str = "gatekeeper-validating-webhook-configuration";
/// Field manager for server-side apply.
const FIELD_MANAGER: &str = "gatekeeper";

/// The configuration for a webhook at `url` serving a certificate signed by `ca_pem`.
pub fn configuration(url: &str, ca_pem: &str) -> ValidatingWebhookConfiguration {
    let mut registration = Registration::new(url, ca_pem).validating();
    registration.name = CONFIGURATION_NAME.to_string();
    registration.webhook_name = enforcement_point::WEBHOOK.to_string();
    let Configuration::Validating(mut config) = registration.configuration() else {
        unreachable!("a validating registration gives a validating configuration")
    };
    for webhook in config.webhooks.iter_mut().flatten() {
        webhook.match_policy = Some("Exact".to_string());
    }
    config
}

/// Applies the configuration and waits until the API server sends requests to the webhook.
/// Returns how long that took.
pub async fn register_and_wait(
    client: &kube::Client,
    url: &str,
    ca_pem: &str,
    timeout: Duration,
) -> Result<Duration, RegistrationError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(CONFIGURATION_NAME, &params, &Patch::Apply(configuration(url, ca_pem))).await?;
    registration::wait_until_reviewed(client, enforcement_point::WEBHOOK, timeout).await
}

/// Removes the configuration; false if it was not there. Call it before stopping the webhook.
pub async fn unregister(client: &kube::Client) -> Result<bool, RegistrationError> {
    registration::unregister(client, CONFIGURATION_NAME).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_gatekeepers() {
        let v = serde_json::to_value(configuration("https://127.0.0.1:8443/v1/admit", "ca")).unwrap();
        assert_eq!(v["kind"], "ValidatingWebhookConfiguration");
        assert_eq!(v["metadata"]["name"], CONFIGURATION_NAME);
        let hook = &v["webhooks"][0];
        assert_eq!(hook["name"], "validation.gatekeeper.sh");
        assert_eq!(hook["failurePolicy"], "Ignore");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["matchPolicy"], "Exact");
        assert_eq!(hook["rules"][0]["operations"], serde_json::json!(["CREATE", "UPDATE"]));
        assert_eq!(hook["rules"][0]["apiGroups"], serde_json::json!(["*"]));
    }
}
