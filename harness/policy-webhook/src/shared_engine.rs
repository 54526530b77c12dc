//! One writer, many readers over a [`PolicyEngine`].
//!
//! OPA served queries while kube-mgmt pushed policies and data into it. Here the ConfigMap loader and
//! the replicators mutate a writer copy under a mutex, prepare it, and publish a clone (a cheap,
//! reference-counted snapshot). Admission and audit take the current snapshot and evaluate without
//! holding any lock, so a slow evaluation never blocks an update and an update never blocks requests.

use std::sync::{Arc, Mutex, RwLock};

use policy_engine::PolicyEngine;

/// The engine shared by the server, the policy loader and the replicators.
pub struct SharedEngine {
    writer: Mutex<PolicyEngine>,
    published: RwLock<Arc<PolicyEngine>>,
}

impl std::fmt::Debug for SharedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("SharedEngine")
            .field("modules", &snapshot.module_ids())
            .field("objects", &snapshot.object_count())
            .finish()
    }
}

impl Default for SharedEngine {
    fn default() -> Self {
        Self::new(PolicyEngine::new())
    }
}

impl SharedEngine {
    /// Starts from `engine` (e.g. one with modules preloaded by a test).
    pub fn new(engine: PolicyEngine) -> Self {
        engine.prepare();
        let published = RwLock::new(Arc::new(engine.clone()));
        Self { writer: Mutex::new(engine), published }
    }

    /// The current snapshot. Later updates do not show through it.
    pub fn snapshot(&self) -> Arc<PolicyEngine> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies `change` to the writer copy and publishes the result. Engines are prepared before
    /// publishing, so the first request after a change does not pay for it. Updates are serialised;
    /// callers batch bursts (a whole initial list) into one call.
    pub fn update<R>(&self, change: impl FnOnce(&mut PolicyEngine) -> R) -> R {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let result = change(&mut writer);
        writer.prepare();
        let snapshot = Arc::new(writer.clone());
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_isolated_from_later_updates() {
        let shared = SharedEngine::default();
        let before = shared.snapshot();
        shared.update(|e| e.upsert_object("pods", Some("team"), "p1", serde_json::json!({"metadata": {"name": "p1"}})));
        assert_eq!(before.object_count(), 0);
        assert_eq!(shared.snapshot().object_count(), 1);
    }

    #[test]
    fn update_returns_the_closure_result() {
        let shared = SharedEngine::default();
        let err = shared.update(|e| e.upsert_module("ns/cm/key", "package admission\ndeny[x] {"));
        assert!(err.is_err());
        assert!(shared.snapshot().module_ids().is_empty());
    }
}
