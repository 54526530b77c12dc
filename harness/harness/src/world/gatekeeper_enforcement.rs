//! When today's add-on is in force: Gatekeeper loads Constraints and synced objects through its
//! watches, after the agent or a scenario wrote them. Steps that expect a decision wait here until
//! Gatekeeper's `GET /v1/status` holds every Constraint the API server has, at its generation, and
//! as many synced objects as the cluster has of the `Config`'s `syncOnly` kinds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use contracts::gatekeeper::{GatekeeperStatus, STATUS_PATH};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;

use super::AksWorld;

/// How long Gatekeeper may take to pick up a change through its watches.
const ENFORCE_TIMEOUT: Duration = Duration::from_secs(20);

impl AksWorld {
    /// A client for Gatekeeper's `GET /v1/status` and its URL, made once per wait.
    async fn gatekeeper_status_client(&self) -> anyhow::Result<(reqwest::Client, String)> {
        let base = self.env.addon.with_installed(self.cluster_id()?, |i| i.webhook_url.clone()).await?;
        let ca = std::fs::read_to_string(self.addon_dir().await?.join("webhook-ca.crt"))?;
        Ok((crate::addon_lifecycle::http_client(Some(&ca)), format!("{base}{STATUS_PATH}")))
    }

    /// `(kind, name, generation)` of every Constraint in the API server.
    async fn constraints_in_cluster(&self) -> anyhow::Result<BTreeSet<(String, String, i64)>> {
        Ok(self
            .constraints()
            .await?
            .iter()
            .map(|c| {
                let kind = c.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
                (kind, c.metadata.name.clone().unwrap_or_default(), c.metadata.generation.unwrap_or(0))
            })
            .collect())
    }

    /// The APIs of the kinds the `Config` syncs that the API server serves (a kind it does not
    /// serve cannot be synced either).
    async fn synced_apis(&self) -> anyhow::Result<Vec<Api<DynamicObject>>> {
        let Some(config) = self.gatekeeper_config().await? else { return Ok(Vec::new()) };
        let entries =
            config.data.pointer("/spec/sync/syncOnly").and_then(|v| v.as_array()).cloned().unwrap_or_default();
        let mut apis = Vec::new();
        for entry in entries {
            let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let gvk = GroupVersionKind::gvk(&field("group"), &field("version"), &field("kind"));
            if let Ok((resource, _)) = kube::discovery::pinned_kind(&self.client(), &gvk).await {
                apis.push(Api::all_with(self.client(), &resource));
            }
        }
        Ok(apis)
    }

    /// Waits until Gatekeeper enforces what the API server holds (see the module docs).
    pub async fn wait_gatekeeper_enforces(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let (http, status_url) = self.gatekeeper_status_client().await?;
        let synced_apis = self.synced_apis().await?;
        loop {
            let wanted = self.constraints_in_cluster().await?;
            let mut synced_wanted = 0;
            for api in &synced_apis {
                synced_wanted += api.list_metadata(&ListParams::default()).await?.items.len() as u64;
            }
            let status: GatekeeperStatus = http.get(&status_url).send().await?.error_for_status()?.json().await?;
            let loaded: BTreeSet<(String, String, i64)> =
                status.constraints.iter().map(|c| (c.kind.clone(), c.name.clone(), c.generation)).collect();
            let missing: Vec<_> = wanted.difference(&loaded).collect();
            if missing.is_empty() && status.synced_objects == synced_wanted {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < ENFORCE_TIMEOUT,
                "Gatekeeper did not catch up within {ENFORCE_TIMEOUT:?}: constraints not loaded (kind, name, generation): {missing:?}; synced objects {} of {synced_wanted}",
                status.synced_objects
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
