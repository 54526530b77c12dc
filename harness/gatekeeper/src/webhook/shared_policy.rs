//! One writer, many readers over the webhook's policy.
//!
//! The watchers change a writer [`CacheState`] under a mutex and publish a clone of its
//! [`PolicyClient`] (a cheap, reference-counted snapshot) after each burst of events. Admission
//! takes the current snapshot and evaluates without holding any lock, so a slow review never
//! blocks an update and an update never blocks a review.

use std::sync::{Arc, Mutex, RwLock};

use policy_engine::gatekeeper_v3::PolicyClient;

use super::policy_cache::CacheState;

pub struct SharedPolicy {
    writer: Mutex<CacheState>,
    published: RwLock<Arc<PolicyClient>>,
}

impl std::fmt::Debug for SharedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPolicy").field("published", &self.snapshot()).finish()
    }
}

impl Default for SharedPolicy {
    fn default() -> Self {
        Self::new(PolicyClient::new())
    }
}

impl SharedPolicy {
    /// Starts from `client` (tests build one directly, without an API server).
    pub fn new(client: PolicyClient) -> Self {
        client.prepare();
        let published = RwLock::new(Arc::new(client.clone()));
        Self { writer: Mutex::new(CacheState::new(client)), published }
    }

    /// The current snapshot. Later updates do not show through it.
    pub fn snapshot(&self) -> Arc<PolicyClient> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What admission enforces now ([`CacheState::status`]).
    pub fn status(&self) -> contracts::gatekeeper::GatekeeperStatus {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).status()
    }

    /// Applies `change` to the writer state and publishes its client, prepared so the first review
    /// after a change does not pay for loading the inventory. Callers batch a burst into one call.
    pub fn update<R>(&self, change: impl FnOnce(&mut CacheState) -> R) -> R {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let result = change(&mut writer);
        let client = writer.client().clone();
        client.prepare();
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(client);
        result
    }
}
