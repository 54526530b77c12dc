//! The real azure-sim, set up as a scenario would: a subscription that joined the preview, a
//! cluster with the `azurepolicy` add-on enabled, and helpers to assign built-in definitions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_sim::{AzureSim, NoopAddonController, RunningSim, SimConfig, SubscriptionCredentials};
use policy_agent::backoff::RetryPolicy;
use policy_agent::dataplane_client::DataplaneClient;
use policy_agent::http_client;
use policy_agent::token::TokenSource;
use reqwest::Method;
use serde_json::json;

pub const PRIVILEGE: &str = "7ce7ac02-a5c6-45d6-8d1b-844feb1c1531";
pub const LIMITS: &str = "a2d3ed81-8d11-4079-80a5-1faadc0024f4";

pub struct AzureWorld {
    pub sim: RunningSim,
    pub creds: SubscriptionCredentials,
    pub cluster_id: String,
    pub ca: Option<PathBuf>,
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AzureWorld {
    pub async fn start() -> Self {
        let sim = AzureSim::start(
            SimConfig { auto_approve_features: true, ..SimConfig::default() },
            Arc::new(NoopAddonController),
        )
        .await
        .unwrap();
        let creds = sim.new_subscription("policy-agent tests");
        let sub = creds.subscription_id.clone();
        let ca = sim.ca_path().map(|p| p.to_path_buf());
        let w = Self {
            http: http_client::build(ca.as_deref(), Duration::from_secs(10), true).unwrap(),
            base: sim.arm_url().trim_end_matches('/').to_string(),
            token: sim.token_for(&sub).unwrap(),
            cluster_id: format!(
                "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"
            ),
            sim,
            creds,
            ca,
        };
        for (ns, f) in [
            ("Microsoft.ContainerService", "AKS-AzurePolicyAutoApprove"),
            ("Microsoft.PolicyInsights", "AKS-DataplaneAutoApprove"),
        ] {
            w.ok(
                Method::POST,
                &format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features/{f}/register"),
                None,
            )
            .await;
            w.ok(Method::POST, &format!("/subscriptions/{sub}/providers/{ns}/register"), None).await;
        }
        w.ok(Method::PUT, &format!("/subscriptions/{sub}/resourcegroups/rg"), Some(json!({"location": "westus2"})))
            .await;
        let cluster = json!({"location": "westus2", "properties": {"kubernetesVersion": "1.14.8", "addonProfiles": {"azurepolicy": {"enabled": true}}}});
        w.ok(Method::PUT, &w.cluster_id.clone(), Some(cluster)).await;
        w
    }

    /// The agent's dataplane client for this world's cluster, with the given timeout and retries.
    pub fn dataplane(&self, timeout: Duration, pooled: bool, retry: RetryPolicy) -> Arc<DataplaneClient> {
        let http = http_client::build(self.ca.as_deref(), timeout, pooled).unwrap();
        let token = Arc::new(TokenSource::new(
            http.clone(),
            self.sim.arm_url(),
            &self.creds.client_id,
            &self.creds.client_secret,
            retry,
        ));
        Arc::new(DataplaneClient::new(http, self.sim.arm_url(), &self.cluster_id, token, retry))
    }

    fn assignment_path(&self, name: &str) -> String {
        format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/policyAssignments/{name}",
            self.creds.subscription_id
        )
    }

    /// Assigns a built-in definition at subscription scope; returns the assignment id.
    pub async fn assign(&self, name: &str, guid: &str) -> String {
        let body = json!({"properties": {"policyDefinitionId": format!("/providers/Microsoft.Authorization/policyDefinitions/{guid}")}});
        self.ok(Method::PUT, &self.assignment_path(name), Some(body)).await["id"].as_str().unwrap().to_string()
    }

    pub async fn unassign(&self, name: &str) {
        self.ok(Method::DELETE, &self.assignment_path(name), None).await;
    }

    /// An ARM call that must succeed; follows `Azure-AsyncOperation` to completion.
    async fn ok(&self, method: Method, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut req = self
            .http
            .request(method, format!("{}{path}{sep}api-version=2019-10-01", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let async_op = resp.headers().get("azure-asyncoperation").and_then(|v| v.to_str().ok()).map(String::from);
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {body}");
        if let Some(op) = async_op {
            for _ in 0..100 {
                let r: serde_json::Value =
                    self.http.get(&op).bearer_auth(&self.token).send().await.unwrap().json().await.unwrap();
                if r["status"] != "InProgress" {
                    assert_eq!(r["status"], "Succeeded", "{r}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        body
    }
}
