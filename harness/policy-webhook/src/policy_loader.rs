//! The kube-mgmt role: ConfigMaps in the policy namespace become Rego modules.
//!
//! Like kube-mgmt 0.6, every data key of a ConfigMap is loaded as module
//! `<namespace>/<configmap>/<key>`, the outcome is written back to the ConfigMap as the annotation
//! `openpolicyagent.org/policy-status` (`{"status":"ok"}` or OPA's error object), and deleting the
//! ConfigMap unloads its modules. Deliberate differences:
//!
//! * keys removed by an update are unloaded too (kube-mgmt 0.6 left them loaded, a known quirk);
//! * a ConfigMap is reprocessed only when its data or its enforcement mark changes (kube-mgmt 7.1's
//!   fingerprint), so the status patch, which itself produces a watch event, cannot loop;
//! * ConfigMaps that are not policies ([`contracts::policy_configmaps::is_policy`]: the control
//!   plane's `kube-root-ca.crt`) are left alone rather than compiled as Rego;
//! * a ConfigMap marked `DoNotEnforce` (the annotation
//!   [`contracts::policy_configmaps::ENFORCEMENT_MODE_ANNOTATION`], on the policy of an assignment
//!   in that mode) is loaded as audited only: admission skips its modules, audits keep them
//!   (`PolicyEngine::set_audit_only`).
//!
//! With several keys the status reports every failing key rather than "last key wins".

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use contracts::EnforcementMode;
use contracts::policy_configmaps::{enforcement_mode, is_policy};
use contracts::webhook::RejectedModule;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use policy_engine::ModuleError;
use serde_json::{Value, json};

use crate::state::AppState;

/// The status annotation kube-mgmt 0.6 wrote (7.1+ renamed it `openpolicyagent.org/kube-mgmt-status`).
pub const POLICY_STATUS_ANNOTATION: &str = "openpolicyagent.org/policy-status";

/// What is loaded from one ConfigMap.
#[derive(Debug, Default)]
struct Loaded {
    keys: BTreeSet<String>,
    fingerprint: u64,
    errors: Vec<ModuleError>,
}

/// The ConfigMap → module bookkeeping, separate from the watch loop so it can be tested without an
/// API server.
#[derive(Debug)]
pub struct PolicyLoader {
    state: Arc<AppState>,
    namespace: String,
    loaded: HashMap<String, Loaded>,
}

fn fingerprint(data: &BTreeMap<String, String>, mode: EnforcementMode) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    mode.hash(&mut h);
    h.finish()
}

/// The annotation value for the outcome of loading one ConfigMap, shaped like OPA's error object
/// (`code`, `message`, and one entry per module error with its location).
pub fn status_value(errors: &[ModuleError]) -> Value {
    if errors.is_empty() {
        return json!({"status": "ok"});
    }
    let details: Vec<Value> = errors
        .iter()
        .map(|e| {
            json!({
                "code": "rego_compile_error",
                "message": e.message,
                "location": {"file": e.id, "row": e.line, "col": e.column},
            })
        })
        .collect();
    json!({
        "status": "error",
        "error": {
            "code": "invalid_parameter",
            "message": format!("error(s) occurred while compiling module(s): {}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
            "errors": details,
        }
    })
}

impl PolicyLoader {
    pub fn new(state: Arc<AppState>, namespace: impl Into<String>) -> Self {
        Self { state, namespace: namespace.into(), loaded: HashMap::new() }
    }

    fn module_id(&self, configmap: &str, key: &str) -> String {
        format!("{}/{configmap}/{key}", self.namespace)
    }

    /// Loads (or reloads) ConfigMap `name` with `data`, enforced at admission or audited only as
    /// `mode` says. Returns the status annotation value, or `None` when nothing changed since the
    /// last load or `name` is not a policy (nothing to do, nothing to patch).
    pub fn apply(&mut self, name: &str, data: &BTreeMap<String, String>, mode: EnforcementMode) -> Option<Value> {
        if !is_policy(name) {
            return None;
        }
        let fp = fingerprint(data, mode);
        if self.loaded.get(name).is_some_and(|l| l.fingerprint == fp) {
            return None;
        }
        let previous = self.loaded.remove(name).unwrap_or_default();
        let stale: Vec<String> = previous.keys.iter().filter(|k| !data.contains_key(*k)).cloned().collect();
        let ids: Vec<(String, &String)> = data.iter().map(|(k, src)| (self.module_id(name, k), src)).collect();
        let stale_ids: Vec<String> = stale.iter().map(|k| self.module_id(name, k)).collect();
        let errors: Vec<ModuleError> = self.state.engine.update(|engine| {
            for id in &stale_ids {
                engine.remove_module(id);
            }
            for (id, _) in &ids {
                engine.set_audit_only(id, !mode.enforces());
            }
            ids.iter().filter_map(|(id, src)| engine.upsert_module(id, src).err()).collect()
        });
        for (id, _) in &ids {
            match errors.iter().find(|e| &e.id == id) {
                Some(e) => tracing::warn!(module = %id, error = %e, "policy rejected"),
                None => tracing::info!(module = %id, enforcement_mode = %mode, "policy loaded"),
            }
        }
        for id in &stale_ids {
            tracing::info!(module = %id, "policy unloaded (key removed)");
        }
        let status = status_value(&errors);
        self.loaded.insert(name.to_string(), Loaded { keys: data.keys().cloned().collect(), fingerprint: fp, errors });
        self.publish_counts();
        Some(status)
    }

    /// Unloads every module of ConfigMap `name` (it was deleted).
    pub fn remove(&mut self, name: &str) {
        let Some(loaded) = self.loaded.remove(name) else { return };
        let ids: Vec<String> = loaded.keys.iter().map(|k| self.module_id(name, k)).collect();
        self.state.engine.update(|engine| {
            for id in &ids {
                engine.remove_module(id);
            }
        });
        for id in &ids {
            tracing::info!(module = %id, "policy unloaded (ConfigMap deleted)");
        }
        self.publish_counts();
    }

    /// Names of the ConfigMaps currently loaded.
    pub fn loaded_names(&self) -> BTreeSet<String> {
        self.loaded.keys().cloned().collect()
    }

    /// Publishes the loaded-module count and the rejected keys to `/metrics` and `/v1/status`.
    fn publish_counts(&self) {
        let modules = self.state.engine.snapshot().module_ids().len();
        let mut rejected: Vec<RejectedModule> = self
            .loaded
            .values()
            .flat_map(|l| &l.errors)
            .map(|e| RejectedModule { id: e.id.clone(), line: e.line, column: e.column, message: e.message.clone() })
            .collect();
        rejected.sort_by(|a, b| a.id.cmp(&b.id));
        self.state.metrics.set_modules(modules, rejected.len());
        *self.state.rejected_modules.lock().unwrap_or_else(|p| p.into_inner()) = rejected;
    }

    /// Watches ConfigMaps in the policy namespace forever: loads, unloads, writes status, and marks
    /// the webhook ready once the initial list is loaded.
    pub async fn run(mut self, client: Client) {
        let api: Api<ConfigMap> = Api::namespaced(client, &self.namespace);
        let mut events = watcher(api.clone(), watcher::Config::default()).default_backoff().boxed();
        let mut listed: BTreeSet<String> = BTreeSet::new();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(cm)) => {
                    listed.insert(cm.name_any());
                    self.on_apply(&api, &cm).await;
                }
                Ok(watcher::Event::InitDone) => {
                    // A relist after a lost watch: whatever was not listed was deleted meanwhile.
                    for gone in self.loaded_names().difference(&listed) {
                        self.remove(gone);
                    }
                    if !self.state.readiness.report().policies_loaded {
                        tracing::info!(namespace = %self.namespace, configmaps = listed.len(), "initial policies loaded");
                    }
                    self.state.readiness.set_policies_loaded();
                }
                Ok(watcher::Event::Apply(cm)) => self.on_apply(&api, &cm).await,
                Ok(watcher::Event::Delete(cm)) => self.remove(&cm.name_any()),
                Err(e) => tracing::warn!(error = %e, namespace = %self.namespace, "ConfigMap watch error (retrying)"),
            }
        }
    }

    async fn on_apply(&mut self, api: &Api<ConfigMap>, cm: &ConfigMap) {
        let name = cm.name_any();
        let data = cm.data.clone().unwrap_or_default();
        let mode = enforcement_mode(cm.metadata.annotations.as_ref());
        let Some(status) = self.apply(&name, &data, mode) else { return };
        if data.is_empty() {
            return;
        }
        let current =
            cm.annotations().get(POLICY_STATUS_ANNOTATION).and_then(|s| serde_json::from_str::<Value>(s).ok());
        if current.as_ref() == Some(&status) {
            return;
        }
        let patch = json!({"metadata": {"annotations": {POLICY_STATUS_ANNOTATION: status.to_string()}}});
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(configmap = %name, error = %e, "could not write policy status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_engine::SharedEngine;

    const OK: &str = "package admission\ndeny[{\"id\": \"x\", \"resource\": {\"kind\": \"pods\", \"namespace\": \"n\", \"name\": \"p\"}, \"resolution\": {\"message\": \"m\"}}] { false }";
    const BROKEN: &str = "package admission\ndeny[x] { x := ";

    fn loader() -> PolicyLoader {
        PolicyLoader::new(Arc::new(AppState::new(SharedEngine::default(), 10, 1024)), "azure-policy")
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn modules(l: &PolicyLoader) -> Vec<String> {
        l.state.engine.snapshot().module_ids()
    }

    #[test]
    fn loads_each_key_as_namespace_name_key() {
        let mut l = loader();
        let status = l.apply("cm1", &data(&[("a.rego", OK), ("b.rego", OK)]), EnforcementMode::Default).unwrap();
        assert_eq!(status, json!({"status": "ok"}));
        assert_eq!(modules(&l), vec!["azure-policy/cm1/a.rego", "azure-policy/cm1/b.rego"]);
    }

    #[test]
    fn unchanged_data_is_not_reprocessed() {
        let mut l = loader();
        assert!(l.apply("cm1", &data(&[("a", OK)]), EnforcementMode::Default).is_some());
        assert!(l.apply("cm1", &data(&[("a", OK)]), EnforcementMode::Default).is_none());
    }

    #[test]
    fn a_compile_error_is_reported_with_location_and_others_stay_loaded() {
        let mut l = loader();
        l.apply("good", &data(&[("policy.rego", OK)]), EnforcementMode::Default);
        let status = l.apply("bad", &data(&[("policy.rego", BROKEN)]), EnforcementMode::Default).unwrap();
        assert_eq!(status["status"], "error");
        let detail = &status["error"]["errors"][0];
        assert_eq!(detail["location"]["file"], "azure-policy/bad/policy.rego");
        assert!(detail["location"]["row"].as_u64().unwrap() >= 1);
        assert!(status["error"]["message"].as_str().unwrap().contains("azure-policy/bad/policy.rego"));
        assert_eq!(modules(&l), vec!["azure-policy/good/policy.rego"]);
        assert!(l.state.metrics.render().contains("policy_webhook_module_errors 1"));
        let rejected = l.state.status().module_errors;
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].id, "azure-policy/bad/policy.rego");
        assert_eq!(u64::from(rejected[0].line), detail["location"]["row"].as_u64().unwrap());
        // Fixed: the rejection is gone.
        l.apply("bad", &data(&[("policy.rego", OK)]), EnforcementMode::Default);
        assert!(l.state.status().module_errors.is_empty());
        assert!(l.state.metrics.render().contains("policy_webhook_module_errors 0"));
    }

    #[test]
    fn delete_and_removed_keys_unload() {
        let mut l = loader();
        l.apply("cm1", &data(&[("a", OK), ("b", OK)]), EnforcementMode::Default);
        l.apply("cm1", &data(&[("b", OK)]), EnforcementMode::Default);
        assert_eq!(modules(&l), vec!["azure-policy/cm1/b"]);
        l.remove("cm1");
        assert!(modules(&l).is_empty());
        assert!(l.loaded_names().is_empty());
        assert!(l.state.metrics.render().contains("policy_webhook_loaded_modules 0"));
    }

    #[test]
    fn the_control_plane_ca_configmap_is_not_a_policy() {
        let mut l = loader();
        let ca = data(&[(
            "ca.crt",
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIBADAKBggqhkjOPQQDAjAA\n-----END CERTIFICATE-----\n",
        )]);
        assert!(l.apply("kube-root-ca.crt", &ca, EnforcementMode::Default).is_none(), "nothing to patch on it");
        assert!(modules(&l).is_empty());
        assert!(l.loaded_names().is_empty());
        l.apply("azurepolicy-a", &data(&[("policy.rego", OK)]), EnforcementMode::Default);
        assert!(l.state.metrics.render().contains("policy_webhook_module_errors 0"));
        assert_eq!(l.loaded_names(), BTreeSet::from(["azurepolicy-a".to_string()]));
    }

    #[test]
    fn the_enforcement_mark_loads_modules_audited_only_and_a_change_of_mark_reloads() {
        let mut l = loader();
        let policy = data(&[("policy.rego", OK)]);
        let id = "azure-policy/cm1/policy.rego";
        assert!(l.apply("cm1", &policy, EnforcementMode::DoNotEnforce).is_some());
        assert!(l.state.engine.snapshot().is_audit_only(id));
        assert!(l.apply("cm1", &policy, EnforcementMode::DoNotEnforce).is_none());
        assert!(l.apply("cm1", &policy, EnforcementMode::Default).is_some(), "same data, new mark");
        assert!(!l.state.engine.snapshot().is_audit_only(id));
        l.apply("cm1", &policy, EnforcementMode::DoNotEnforce);
        l.remove("cm1");
        assert!(!l.state.engine.snapshot().is_audit_only(id));
    }
}
