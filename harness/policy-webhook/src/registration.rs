//! Registering the webhook with the API server, as the Gatekeeper v2 manager registered itself.
//!
//! Gatekeeper v2 created a **MutatingWebhookConfiguration** `gatekeeper` with one webhook
//! `mutation.gatekeeper.sh` on `/v1/admit`, for CREATE and UPDATE of every resource, without a
//! namespace selector. Being mutating matters: generated names are assigned after mutating admission,
//! so `generateName` creates are reviewed with an empty name, as in 2019. On admissionregistration/v1
//! the fields v1beta1 defaulted must be explicit: `sideEffects: None` (also what lets dry-run requests
//! through), `failurePolicy` (v1beta1's default `Ignore`, fail open), a `timeoutSeconds`, and the
//! AdmissionReview versions.
//!
//! A **validating** registration is available too (`--kind validating`), as the issue text for
//! this crate asked: it reviews the same requests after mutation, so `generateName` creates arrive
//! with the generated name and name-dependent rules fire where they did not in 2019.
//!
//! The API server picks configurations up through an informer, so a fresh registration is not in
//! force at once. [`wait_until_reviewed`] proves it is: it sends server-side dry-run creates of a
//! probe Namespace until one comes back denied by *this* webhook with the probe's token
//! ([`crate::admission::decision::PROBE_ANNOTATION`]), polling against a deadline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhook,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use rand::Rng;

use crate::admission::decision::{PROBE_ANNOTATION, probe_message};

/// Gatekeeper v2's configuration name.
pub const DEFAULT_CONFIGURATION_NAME: &str = "gatekeeper";
/// Gatekeeper v2's `--webhook-name` default.
pub const DEFAULT_WEBHOOK_NAME: &str = "mutation.gatekeeper.sh";
/// The webhook name of a validating registration, after Gatekeeper v3's.
pub const DEFAULT_VALIDATING_WEBHOOK_NAME: &str = "validation.gatekeeper.sh";
/// Field manager for server-side apply.
const FIELD_MANAGER: &str = "policy-webhook";

/// `failurePolicy`: what the API server does when the webhook cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailurePolicy {
    /// Allow the request (fail open), Gatekeeper v2's effective default.
    #[default]
    #[value(name = "Ignore")]
    Ignore,
    /// Reject the request (fail closed).
    #[value(name = "Fail")]
    Fail,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Ignore => "Ignore",
            FailurePolicy::Fail => "Fail",
        }
    }
}

/// Which admission phase reviews requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WebhookKind {
    /// A MutatingWebhookConfiguration answering without a patch, as Gatekeeper v2 registered.
    #[default]
    Mutating,
    /// A ValidatingWebhookConfiguration: reviews after mutation (and after name generation).
    Validating,
}

impl WebhookKind {
    pub fn default_webhook_name(self) -> &'static str {
        match self {
            WebhookKind::Mutating => DEFAULT_WEBHOOK_NAME,
            WebhookKind::Validating => DEFAULT_VALIDATING_WEBHOOK_NAME,
        }
    }
}

/// A configuration of either kind, ready to apply.
#[derive(Debug, Clone)]
pub enum Configuration {
    Mutating(MutatingWebhookConfiguration),
    Validating(ValidatingWebhookConfiguration),
}

/// Everything that goes into the webhook configuration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub kind: WebhookKind,
    /// The configuration's `metadata.name`.
    pub name: String,
    /// `webhooks[0].name`; at least three dot-separated segments.
    pub webhook_name: String,
    /// `https://127.0.0.1:<port>/v1/admit`.
    pub url: String,
    /// PEM of the CA that signed the webhook's serving certificate.
    pub ca_pem: String,
    pub failure_policy: FailurePolicy,
    /// 1–30; Gatekeeper v3's 3 s (v2 ran with v1beta1's 30 s).
    pub timeout_seconds: i32,
}

impl Registration {
    /// Gatekeeper v2's kind and names, failure policy `Ignore`, timeout 3 s.
    pub fn new(url: impl Into<String>, ca_pem: impl Into<String>) -> Self {
        Self {
            kind: WebhookKind::Mutating,
            name: DEFAULT_CONFIGURATION_NAME.to_string(),
            webhook_name: DEFAULT_WEBHOOK_NAME.to_string(),
            url: url.into(),
            ca_pem: ca_pem.into(),
            failure_policy: FailurePolicy::Ignore,
            timeout_seconds: 3,
        }
    }

    /// This registration as a validating one, under the validating webhook name.
    pub fn validating(mut self) -> Self {
        self.kind = WebhookKind::Validating;
        self.webhook_name = DEFAULT_VALIDATING_WEBHOOK_NAME.to_string();
        self
    }

    fn metadata(&self) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name.clone()),
            labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_string(), FIELD_MANAGER.to_string())])),
            ..Default::default()
        }
    }

    /// The webhook, as the validating type (the mutating one has the same fields plus
    /// `reinvocationPolicy`, left unset).
    fn webhook(&self) -> ValidatingWebhook {
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        ValidatingWebhook {
            name: self.webhook_name.clone(),
            admission_review_versions: vec!["v1".into(), "v1beta1".into()],
            client_config: WebhookClientConfig {
                url: Some(self.url.clone()),
                ca_bundle: Some(ByteString(self.ca_pem.as_bytes().to_vec())),
                service: None,
            },
            failure_policy: Some(self.failure_policy.as_str().to_string()),
            side_effects: "None".to_string(),
            timeout_seconds: Some(self.timeout_seconds),
            rules: Some(vec![RuleWithOperations {
                operations: strings(&["CREATE", "UPDATE"]),
                api_groups: strings(&["*"]),
                api_versions: strings(&["*"]),
                resources: strings(&["*"]),
                scope: Some("*".to_string()),
            }]),
            ..Default::default()
        }
    }

    /// The configuration object of [`Self::kind`].
    pub fn configuration(&self) -> Configuration {
        let w = self.webhook();
        match self.kind {
            WebhookKind::Validating => Configuration::Validating(ValidatingWebhookConfiguration {
                metadata: self.metadata(),
                webhooks: Some(vec![w]),
            }),
            WebhookKind::Mutating => Configuration::Mutating(MutatingWebhookConfiguration {
                metadata: self.metadata(),
                webhooks: Some(vec![MutatingWebhook {
                    name: w.name,
                    admission_review_versions: w.admission_review_versions,
                    client_config: w.client_config,
                    failure_policy: w.failure_policy,
                    side_effects: w.side_effects,
                    timeout_seconds: w.timeout_seconds,
                    rules: w.rules,
                    match_conditions: w.match_conditions,
                    match_policy: w.match_policy,
                    namespace_selector: w.namespace_selector,
                    object_selector: w.object_selector,
                    reinvocation_policy: None,
                }]),
            }),
        }
    }
}

/// Registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("webhook {webhook} did not review a dry-run probe within {timeout:?} (last outcome: {last})")]
    NotReviewed { webhook: String, timeout: Duration, last: String },
    /// The configuration is in place but no probe reached the webhook: the API server cannot call
    /// `url` from where it runs (a container, another machine). Names the URL and the fix.
    #[error(
        "the API server could not reach the webhook at {url}: {webhook} reviewed no dry-run probe within {timeout:?} (last outcome: {last}); give the harness an address the API server can reach with {WEBHOOK_HOST_FLAG} HOST[:PORT] (or HARNESS_WEBHOOK_HOST)"
    )]
    Unreachable { url: String, webhook: String, timeout: Duration, last: String },
}

/// The harness flag that sets the address the API server calls the webhook on.
pub const WEBHOOK_HOST_FLAG: &str = "--webhook-host";

/// The outcome of a probe that was admitted because the webhook was never called (failure policy
/// `Ignore` fails open).
const ADMITTED_UNREVIEWED: &str = "the probe was admitted without being reviewed";

impl RegistrationError {
    /// A [`Self::NotReviewed`] whose last probe shows the API server failing to call the webhook
    /// (failed open under `Ignore`, or "failed calling webhook" under `Fail`), as
    /// [`Self::Unreachable`] for `url`; any other error as it is.
    fn naming_unreachable(self, url: &str) -> Self {
        match self {
            Self::NotReviewed { webhook, timeout, last }
                if last == ADMITTED_UNREVIEWED || last.contains("failed calling webhook") =>
            {
                Self::Unreachable { url: url.to_string(), webhook, timeout, last }
            }
            other => other,
        }
    }
}

/// Server-side apply of a cluster-scoped object under our field manager.
async fn apply<K>(client: &Client, name: &str, object: &K) -> Result<(), kube::Error>
where
    K: kube::Resource<Scope = kube::core::ClusterResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    Api::<K>::all(client.clone())
        .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .map(|_| ())
}

/// Deletes a cluster-scoped object; `Ok(false)` if it did not exist.
async fn delete<K>(client: &Client, name: &str) -> Result<bool, kube::Error>
where
    K: kube::Resource<Scope = kube::core::ClusterResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    match Api::<K>::all(client.clone()).delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates or updates the configuration (server-side apply, so re-registering with another URL or
/// failure policy just updates it).
pub async fn register(client: &Client, registration: &Registration) -> Result<(), RegistrationError> {
    match registration.configuration() {
        Configuration::Mutating(c) => apply(client, &registration.name, &c).await?,
        Configuration::Validating(c) => apply(client, &registration.name, &c).await?,
    }
    tracing::info!(
        name = %registration.name, kind = ?registration.kind, webhook = %registration.webhook_name, url = %registration.url,
        failure_policy = registration.failure_policy.as_str(), "webhook configuration registered"
    );
    Ok(())
}

/// Deletes the configuration `name` of either kind. Returns false if neither existed. Delete it
/// **before** stopping the webhook: a leftover `Fail` configuration blocks every request, an
/// `Ignore` one costs each request the timeout.
pub async fn unregister(client: &Client, name: &str) -> Result<bool, RegistrationError> {
    let mutating = delete::<MutatingWebhookConfiguration>(client, name).await?;
    let validating = delete::<ValidatingWebhookConfiguration>(client, name).await?;
    if mutating || validating {
        tracing::info!(name, "webhook configuration removed");
    }
    Ok(mutating || validating)
}

/// One probe: a dry-run create of a Namespace carrying a fresh token. `Ok(true)` when the webhook
/// named `webhook_name` denied it with the probe's message.
async fn probe(client: &Client, webhook_name: &str) -> Result<bool, String> {
    let token = format!("{:016x}", rand::rng().random::<u64>());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(format!("policy-webhook-probe-{token}")),
            annotations: Some(BTreeMap::from([(PROBE_ANNOTATION.to_string(), token.clone())])),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<Namespace> = Api::all(client.clone());
    match api.create(&PostParams { dry_run: true, field_manager: None }, &ns).await {
        Ok(_) => Err(ADMITTED_UNREVIEWED.to_string()),
        Err(kube::Error::Api(s))
            if s.message.contains(&probe_message(&token)) && s.message.contains(&format!("\"{webhook_name}\"")) =>
        {
            Ok(true)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Polls with dry-run probes until the webhook `webhook_name` reviews requests, or `timeout`
/// passes. Returns how long it took.
pub async fn wait_until_reviewed(
    client: &Client,
    webhook_name: &str,
    timeout: Duration,
) -> Result<Duration, RegistrationError> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::from("no probe sent");
    while started.elapsed() < timeout {
        tick.tick().await;
        match probe(client, webhook_name).await {
            Ok(_) => {
                let took = started.elapsed();
                tracing::info!(
                    webhook = webhook_name,
                    took_ms = took.as_millis() as u64,
                    "webhook is reviewing requests"
                );
                return Ok(took);
            }
            Err(outcome) => last = outcome,
        }
    }
    Err(RegistrationError::NotReviewed { webhook: webhook_name.to_string(), timeout, last })
}

/// [`register`], then [`wait_until_reviewed`]: what the harness calls after starting the webhook.
/// When no probe reached the webhook, the error names the URL the API server could not call
/// ([`RegistrationError::Unreachable`]).
pub async fn register_and_wait(
    client: &Client,
    registration: &Registration,
    timeout: Duration,
) -> Result<Duration, RegistrationError> {
    register(client, registration).await?;
    wait_until_reviewed(client, &registration.webhook_name, timeout)
        .await
        .map_err(|e| e.naming_unreachable(&registration.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_matches_gatekeeper_v2_on_admissionregistration_v1() {
        let mut reg = Registration::new("https://127.0.0.1:8443/v1/admit", "-----BEGIN CERTIFICATE-----\n");
        reg.failure_policy = FailurePolicy::Fail;
        let Configuration::Mutating(config) = reg.configuration() else { panic!("mutating by default") };
        let v = serde_json::to_value(config).unwrap();
        assert_eq!(v["apiVersion"], "admissionregistration.k8s.io/v1");
        assert_eq!(v["kind"], "MutatingWebhookConfiguration");
        assert_eq!(v["metadata"]["name"], "gatekeeper");
        let hook = &v["webhooks"][0];
        assert_eq!(hook["name"], "mutation.gatekeeper.sh");
        assert_eq!(hook["clientConfig"]["url"], "https://127.0.0.1:8443/v1/admit");
        assert!(hook["clientConfig"]["caBundle"].as_str().unwrap().starts_with("LS0tLS1CRUdJTiBD"));
        assert!(hook["clientConfig"].get("service").is_none());
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["timeoutSeconds"], 3);
        assert_eq!(hook["admissionReviewVersions"], serde_json::json!(["v1", "v1beta1"]));
        assert_eq!(hook["rules"][0]["operations"], serde_json::json!(["CREATE", "UPDATE"]));
        assert_eq!(hook["rules"][0]["resources"], serde_json::json!(["*"]));
        assert!(hook.get("namespaceSelector").is_none());
    }

    #[test]
    fn a_validating_registration_has_the_same_webhook_under_its_own_name() {
        let reg = Registration::new("https://127.0.0.1:8443/v1/admit", "ca").validating();
        let Configuration::Validating(config) = reg.configuration() else { panic!("validating") };
        let v = serde_json::to_value(config).unwrap();
        assert_eq!(v["kind"], "ValidatingWebhookConfiguration");
        assert_eq!(v["webhooks"][0]["name"], "validation.gatekeeper.sh");
        assert_eq!(v["webhooks"][0]["rules"][0]["operations"], serde_json::json!(["CREATE", "UPDATE"]));
        assert_eq!(v["webhooks"][0]["timeoutSeconds"], 3);
    }

    #[test]
    fn an_unreviewed_probe_names_the_url_and_the_flag_that_fixes_it() {
        let url = "https://172.18.0.1:41234/v1/admit";
        let not_reviewed = |last: &str| RegistrationError::NotReviewed {
            webhook: DEFAULT_WEBHOOK_NAME.into(),
            timeout: Duration::from_secs(30),
            last: last.into(),
        };
        // Failure policy Ignore: the API server failed open, so the probe was admitted.
        let message = not_reviewed(ADMITTED_UNREVIEWED).naming_unreachable(url).to_string();
        assert!(message.starts_with(&format!("the API server could not reach the webhook at {url}: ")), "{message}");
        assert!(message.contains("--webhook-host HOST[:PORT]"), "{message}");
        // Failure policy Fail: the API server says it failed calling the webhook.
        let failed = r#"Internal error occurred: failed calling webhook "mutation.gatekeeper.sh": failed to call webhook: Post "https://172.18.0.1:41234/v1/admit?timeout=3s": dial tcp 172.18.0.1:41234: connect: connection refused"#;
        assert!(matches!(not_reviewed(failed).naming_unreachable(url), RegistrationError::Unreachable { .. }));
        // Anything else (the webhook answered, but not with the probe's denial) is not blamed on reachability.
        let other = not_reviewed("forbidden").naming_unreachable(url);
        assert!(matches!(other, RegistrationError::NotReviewed { .. }), "{other}");
    }

    #[test]
    fn failure_policy_defaults_to_ignore() {
        assert_eq!(Registration::new("u", "c").failure_policy, FailurePolicy::Ignore);
        assert_eq!(FailurePolicy::default().as_str(), "Ignore");
    }
}
