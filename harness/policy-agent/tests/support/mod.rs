#![allow(dead_code)]
pub mod agent_process;
pub mod azure_world;
pub mod current_world;
pub mod fake_dataplane;
pub mod flaky_proxy;
pub mod stub_webhook;

use std::sync::Arc;
use std::time::Duration;

use policy_agent::backoff::RetryPolicy;
use policy_agent::dataplane_client::DataplaneClient;
use policy_agent::http_client;
use policy_agent::token::TokenSource;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CLUSTER: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1";

pub fn init() {
    pki::install_ring_provider();
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("policy_agent=debug").try_init();
}

/// Fast retries so fault tests finish in seconds.
pub fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts, Duration::from_millis(10), Duration::from_secs(2))
}

pub async fn mount_token(server: &MockServer, expected_calls: impl Into<wiremock::Times>) {
    Mock::given(method("POST"))
        .and(path("/adfs/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600
        })))
        .expect(expected_calls)
        .named("token")
        .mount(server)
        .await;
}

/// A dataplane client whose token comes from `token_base` and whose calls go to `base`, one
/// connection per request.
pub fn client(token_base: &str, base: &str, retry: RetryPolicy) -> Arc<DataplaneClient> {
    let http = http_client::build(None, Duration::from_secs(3), false).unwrap();
    let token = Arc::new(TokenSource::new(http.clone(), token_base, "cid", "secret", retry));
    Arc::new(DataplaneClient::new(http, base, CLUSTER, token, retry))
}

pub fn assignment_json(name: &str, policy_uri: &str) -> serde_json::Value {
    serde_json::json!({
        "assignmentId": fake_dataplane::assignment_id(name),
        "assignmentName": name,
        "definitionId": "/providers/Microsoft.Authorization/policyDefinitions/7ce7ac02-a5c6-45d6-8d1b-844feb1c1531",
        "displayName": name, "effect": "EnforceRegoPolicy", "policyUri": policy_uri, "parameters": {}
    })
}

/// Creates namespace `name` (if missing) with the admin client and returns its ConfigMap API.
pub async fn test_namespace(client: &kube::Client, name: &str) -> kube::Api<k8s_openapi::api::core::v1::ConfigMap> {
    use kube::api::{ObjectMeta, PostParams};
    let ns = k8s_openapi::api::core::v1::Namespace {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        ..Default::default()
    };
    let _ = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await;
    kube::Api::namespaced(client.clone(), name)
}

/// Names of the policy ConfigMaps in the namespace (not the control plane's `kube-root-ca.crt`).
pub async fn policy_configmap_names(api: &kube::Api<k8s_openapi::api::core::v1::ConfigMap>) -> Vec<String> {
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .filter(|n| contracts::policy_configmaps::is_policy(n))
        .collect()
}
