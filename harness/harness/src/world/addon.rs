//! The add-on as a scenario observes it: refresh and audit cycles (triggered, never waited for with
//! a sleep), the policy ConfigMaps, the webhook's loaded policies, logs and the API server audit log.
//! The cycles, logs, Deployments and the webhook kill work for both generations; ConfigMaps and the
//! webhook's status are the 2019 preview's.

use std::time::{Duration, Instant};

use azure_sim::AddonGeneration;
use contracts::agent::Cycle;
use contracts::webhook::WebhookStatus;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use super::AksWorld;
use crate::addon_lifecycle::deployment_namespace;

/// kube-mgmt's status annotation.
pub const POLICY_STATUS: &str = "openpolicyagent.org/policy-status";
/// How long the webhook may take to pick up ConfigMap changes through its watch.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

impl AksWorld {
    fn policy_namespace(&self) -> String {
        self.addon_settings.namespace.clone()
    }

    /// Runs one refresh cycle now, then waits until admission enforces what it wrote: the 2019
    /// webhook has loaded the ConfigMaps, or Gatekeeper the Constraints.
    pub async fn refresh_cycle(&mut self) -> anyhow::Result<serde_json::Value> {
        let reply = self.env.addon.trigger(self.cluster_id()?, Cycle::Refresh).await?;
        match self.addon_generation {
            AddonGeneration::Preview2019 => self.wait_policies_loaded().await?,
            AddonGeneration::Current => self.wait_gatekeeper_enforces().await?,
        }
        Ok(reply)
    }

    /// Runs one audit cycle now (the full scan and the compliance report). The 2019 webhook audits
    /// its replica, so that must hold the cluster's current objects first; today's agent has
    /// Gatekeeper audit the API server itself.
    pub async fn audit_cycle(&mut self) -> anyhow::Result<serde_json::Value> {
        if self.addon_generation == AddonGeneration::Preview2019 {
            self.wait_replicated().await?;
        }
        Ok(self.env.addon.trigger(self.cluster_id()?, Cycle::Audit).await?)
    }

    /// The webhook's `GET /v1/status`: the modules it has loaded and the objects it has replicated.
    async fn webhook_status(&self) -> anyhow::Result<WebhookStatus> {
        let webhook = self.env.addon.with_installed(self.cluster_id()?, |i| i.webhook_url.clone()).await?;
        let ca = std::fs::read_to_string(self.addon_dir().await?.join("webhook-ca.crt"))?;
        let http = crate::addon_lifecycle::http_client(Some(&ca));
        Ok(http.get(format!("{webhook}/v1/status")).send().await?.error_for_status()?.json().await?)
    }

    /// Waits until the webhook's replicated data holds as many objects as the cluster has of the
    /// replicated kinds: referential policies and the audit then see the current state. With
    /// today's add-on: until Gatekeeper enforces what the API server holds.
    pub async fn wait_replicated(&self) -> anyhow::Result<()> {
        if self.addon_generation == AddonGeneration::Current {
            return self.wait_gatekeeper_enforces().await;
        }
        let started = Instant::now();
        let client = self.client();
        loop {
            let mut expected = 0usize;
            for spec in self.addon_settings.replicate_specs()? {
                let api_version = if spec.group.is_empty() {
                    spec.version.clone()
                } else {
                    format!("{}/{}", spec.group, spec.version)
                };
                let ar = kube::discovery::ApiResource {
                    group: spec.group,
                    version: spec.version,
                    api_version,
                    kind: String::new(),
                    plural: spec.resource,
                };
                let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &ar);
                expected += api.list_metadata(&ListParams::default()).await?.items.len();
            }
            let replicated = self.webhook_status().await?.replicated_objects;
            if replicated == expected as u64 {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < LOAD_TIMEOUT,
                "the webhook replicated {replicated} objects, the cluster has {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The ConfigMaps in the policy namespace.
    pub async fn policy_configmaps(&self) -> anyhow::Result<Vec<ConfigMap>> {
        let api: Api<ConfigMap> = Api::namespaced(self.client(), &self.policy_namespace());
        let mut list: Vec<ConfigMap> = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|cm| cm.metadata.name.as_deref().is_some_and(contracts::policy_configmaps::is_policy))
            .collect();
        list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(list)
    }

    /// Waits until every policy ConfigMap carries kube-mgmt's status annotation (written after it is
    /// processed) and the webhook holds no more modules than the ConfigMaps have keys (deleted
    /// ConfigMaps are unloaded): only then does admission reflect the cycle. A key whose new Rego
    /// fails to compile keeps its previous module, as OPA did, so "no more than" is the right test.
    pub async fn wait_policies_loaded(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let cms = self.policy_configmaps().await?;
            let annotated =
                cms.iter().all(|cm| cm.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(POLICY_STATUS)));
            let keys: usize = cms.iter().map(|cm| cm.data.as_ref().map_or(0, |d| d.len())).sum();
            let modules = self.webhook_status().await?.modules.len();
            if annotated && modules <= keys {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < LOAD_TIMEOUT,
                "the webhook did not load the policies within {LOAD_TIMEOUT:?} (annotated: {annotated}, modules {modules}, ConfigMap keys {keys})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The directory with the add-on's files and logs.
    pub async fn addon_dir(&self) -> anyhow::Result<std::path::PathBuf> {
        Ok(self.env.addon.with_installed(self.cluster_id()?, |i| i.dir.clone()).await?)
    }

    /// The add-on's logs (webhook then agent).
    pub async fn addon_logs(&self) -> anyhow::Result<String> {
        let (webhook, agent) = self.env.addon.log_paths(self.cluster_id()?).await?;
        Ok(format!("{}\n{}", std::fs::read_to_string(webhook)?, std::fs::read_to_string(agent)?))
    }

    /// The webhook's decision log: one JSON line per admission review it evaluated (`decision`,
    /// `kind`, `namespace`, `name`, ...), oldest first.
    pub async fn webhook_decisions(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let (webhook, _) = self.env.addon.log_paths(self.cluster_id()?).await?;
        Ok(std::fs::read_to_string(webhook)?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            // Flattened events carry the fields at the top level; nested ones under `fields`.
            .map(|e| if e.get("fields").is_some_and(|f| f.is_object()) { e["fields"].clone() } else { e })
            .filter(|e| e.get("decision").is_some_and(|d| d.is_string()))
            .collect())
    }

    /// Kills the webhook process as a crash would; its configuration stays registered.
    pub async fn kill_webhook(&self) -> anyhow::Result<()> {
        Ok(self.env.addon.with_installed(self.cluster_id()?, |i| i.webhook.kill_now()).await?)
    }

    /// Waits until the add-on's Deployment `name` shows `ready` in kubectl's READY column
    /// (`<readyReplicas>/<spec.replicas>`, e.g. `1/1`), for at most [`LOAD_TIMEOUT`].
    pub async fn wait_deployment_ready(&self, name: &str, ready: &str) -> anyhow::Result<()> {
        let namespace = deployment_namespace(self.addon_generation, &self.policy_namespace(), name)
            .ok_or_else(|| anyhow::anyhow!("the {} add-on has no Deployment {name}", self.addon_generation.as_str()))?;
        let api: Api<Deployment> = Api::namespaced(self.client(), &namespace);
        let started = Instant::now();
        loop {
            let deployment = api.get(name).await?;
            let wanted = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
            let shown = format!("{}/{wanted}", deployment.status.and_then(|s| s.ready_replicas).unwrap_or(0));
            if shown == ready {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < LOAD_TIMEOUT,
                "Deployment {name} shows {shown} ready, expected {ready}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// API server audit entries whose response message mentions "admission webhook".
    pub fn audit_log_denials(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let path = self
            .env
            .cluster
            .audit_log_path()
            .ok_or_else(|| anyhow::anyhow!("this cluster backend writes no audit log"))?;
        let text = std::fs::read_to_string(&path)?;
        Ok(text
            .lines()
            .filter(|l| l.contains("admission webhook"))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}
