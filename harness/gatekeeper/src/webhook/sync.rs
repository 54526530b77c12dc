//! Referential data (reference §1.7): the kinds listed in the `Config` named `config` in
//! `gatekeeper-system` (`config.gatekeeper.sh/v1alpha1`, `spec.sync.syncOnly[] {group, version,
//! kind}`) are watched into `data.inventory`. A kind added to the list starts a watcher; a kind
//! removed stops it and drops its objects, as does deleting the `Config`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::api::GroupVersionKind;
use serde_json::Value;

use super::GATEKEEPER_NAMESPACE;
use super::policy_cache::CacheState;
use super::readiness::Readiness;
use super::shared_policy::SharedPolicy;
use super::watch::{Change, Key, Watcher, watch};
pub use crate::resources::config_resource;

/// The one `Config` Gatekeeper reads.
pub const CONFIG_NAME: &str = "config";

/// One `syncOnly` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl SyncKind {
    /// `v1` for the core group, else `group/version` (the inventory's `<gv>`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// The kinds a `Config` object asks to sync; entries without a version or kind are ignored.
pub fn sync_only(config: &Value) -> BTreeSet<SyncKind> {
    let entries = config.pointer("/spec/sync/syncOnly").and_then(Value::as_array).cloned().unwrap_or_default();
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    entries
        .iter()
        .map(|e| SyncKind { group: text(e, "group"), version: text(e, "version"), kind: text(e, "kind") })
        .filter(|k| !k.version.is_empty() && !k.kind.is_empty())
        .collect()
}

impl CacheState {
    /// Adds or replaces a synced object in `data.inventory`.
    pub fn upsert_synced(&mut self, object: Value) {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let source = format!("{kind}/{name}");
        match self.client.inventory_mut().upsert(object, &source) {
            Ok(()) => {
                self.synced.entry((api_version, kind)).or_default().insert((namespace, name));
            }
            Err(e) => tracing::warn!(object = %source, error = %e, "not syncing object"),
        }
    }

    pub fn remove_synced(&mut self, kind: &SyncKind, (namespace, name): &Key) {
        let api_version = kind.api_version();
        self.client.inventory_mut().remove(&api_version, &kind.kind, namespace.as_deref(), name);
        if let Some(keys) = self.synced.get_mut(&(api_version, kind.kind.clone())) {
            keys.remove(&(namespace.clone(), name.clone()));
        }
    }

    /// Drops every synced object of `kind` (it left `syncOnly`).
    pub fn unsync(&mut self, kind: &SyncKind) {
        let keys = self.synced.remove(&(kind.api_version(), kind.kind.clone())).unwrap_or_default();
        for (namespace, name) in keys {
            self.client.inventory_mut().remove(&kind.api_version(), &kind.kind, namespace.as_deref(), &name);
        }
    }
}

/// Watches the `Config` forever and keeps one watcher per synced kind; the first list of Configs
/// is marked in `readiness`.
pub async fn run(client: kube::Client, shared: Arc<SharedPolicy>, readiness: Arc<Readiness>) {
    let mut watchers: BTreeMap<SyncKind, Watcher> = BTreeMap::new();
    let is_config = |ns: Option<&str>, name: &str| ns == Some(GATEKEEPER_NAMESPACE) && name == CONFIG_NAME;
    let apply = |changes: Vec<Change>, listed: bool| {
        if listed {
            readiness.config_listed();
        }
        let mut desired = None;
        for change in changes {
            match change {
                Change::Upsert(object) => {
                    let ns = object.pointer("/metadata/namespace").and_then(Value::as_str);
                    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                    if is_config(ns, name) {
                        desired = Some(sync_only(&object));
                    }
                }
                Change::Remove((ns, name)) if is_config(ns.as_deref(), &name) => desired = Some(BTreeSet::new()),
                Change::Remove(_) => {}
            }
        }
        let Some(desired) = desired else { return };
        let gone: Vec<SyncKind> = watchers.keys().filter(|k| !desired.contains(k)).cloned().collect();
        for kind in gone {
            watchers.remove(&kind);
            shared.update(|state| state.unsync(&kind));
            tracing::info!(kind = ?kind, "no longer syncing");
        }
        for kind in desired {
            watchers
                .entry(kind.clone())
                .or_insert_with(|| Watcher(tokio::spawn(watch_synced(client.clone(), shared.clone(), kind))));
        }
    };
    watch(client.clone(), config_resource(), apply).await;
}

/// Resolves `kind` (retrying while the API server does not serve it) and watches it into the
/// inventory.
async fn watch_synced(client: kube::Client, shared: Arc<SharedPolicy>, kind: SyncKind) {
    let gvk = GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind);
    let resource = loop {
        match kube::discovery::pinned_kind(&client, &gvk).await {
            Ok((resource, _)) => break resource,
            Err(e) => {
                tracing::warn!(kind = ?kind, error = %e, "cannot sync a kind the API server does not serve (retrying)");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    tracing::info!(kind = ?kind, "syncing");
    watch(client, resource, |changes, _| {
        shared.update(|state| {
            for change in changes {
                match change {
                    Change::Upsert(object) => state.upsert_synced(object),
                    Change::Remove(key) => state.remove_synced(&kind, &key),
                }
            }
        })
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_engine::gatekeeper_v3::PolicyClient;
    use serde_json::json;

    #[test]
    fn reads_sync_only_and_ignores_incomplete_entries() {
        let config = json!({"spec": {"sync": {"syncOnly": [
            {"group": "", "version": "v1", "kind": "Namespace"},
            {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            {"group": "apps", "kind": "Deployment"},
        ]}}});
        let kinds = sync_only(&config);
        assert_eq!(kinds.len(), 2);
        assert!(kinds.iter().any(|k| k.api_version() == "networking.k8s.io/v1" && k.kind == "Ingress"));
        assert!(sync_only(&json!({"spec": {}})).is_empty());
    }

    #[test]
    fn synced_objects_come_and_go_with_their_kind() {
        let mut state = CacheState::new(PolicyClient::new());
        let ns = SyncKind { group: String::new(), version: "v1".into(), kind: "Namespace".into() };
        state.upsert_synced(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}));
        state.upsert_synced(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}));
        assert_eq!(state.client().inventory().len(), 2);
        state.remove_synced(&ns, &(None, "a".into()));
        assert_eq!(state.client().inventory().len(), 1);
        state.unsync(&ns);
        assert!(state.client().inventory().is_empty());
    }
}
