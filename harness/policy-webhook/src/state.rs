//! The state every handler and background task shares.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use contracts::webhook::{RejectedModule, WebhookStatus};
use serde::Serialize;

use crate::denials::DenialLog;
use crate::metrics::Metrics;
use crate::shared_engine::SharedEngine;

/// Shared by the HTTPS handlers, the ConfigMap loader and the replicators (behind an `Arc`).
#[derive(Debug)]
pub struct AppState {
    pub engine: SharedEngine,
    pub metrics: Metrics,
    pub denials: DenialLog,
    pub readiness: Readiness,
    /// ConfigMap keys whose Rego was rejected at their latest load (the policy loader keeps it).
    pub rejected_modules: Mutex<Vec<RejectedModule>>,
    /// Largest accepted `/v1/admit` body; larger ones get HTTP 400.
    pub max_body_bytes: usize,
    /// The bearer token of `/v1/audit` and `/v1/denials`, when they need one
    /// ([`crate::server::require_read_token`]).
    pub read_token: Option<String>,
}

impl AppState {
    pub fn new(engine: SharedEngine, denials_capacity: usize, max_body_bytes: usize) -> Self {
        Self {
            engine,
            metrics: Metrics::new(),
            denials: DenialLog::new(denials_capacity),
            readiness: Readiness::default(),
            rejected_modules: Mutex::new(Vec::new()),
            max_body_bytes,
            read_token: None,
        }
    }

    /// The same state with `/v1/audit` and `/v1/denials` behind `token`.
    pub fn with_read_token(mut self, token: Option<String>) -> Self {
        self.read_token = token;
        self
    }

    /// The `/v1/status` body: the published engine's modules and objects, as admission and audit see
    /// them now, with the loader's rejections and the readiness flags.
    pub fn status(&self) -> WebhookStatus {
        let engine = self.engine.snapshot();
        let mut modules = engine.module_ids();
        modules.sort();
        let ready = self.readiness.report();
        WebhookStatus {
            policies_loaded: ready.policies_loaded,
            modules,
            module_errors: self.rejected_modules.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            replicated_objects: engine.object_count() as u64,
            replication_synced: ready.replication_synced,
        }
    }
}

/// What `/readyz` reports. Ready means the initial ConfigMap list has been loaded (contracts §5):
/// before that, every request would be allowed for lack of policies, which is exactly what a
/// readiness gate must prevent. Replication progress is reported alongside but does not gate, so a
/// resource the API server does not serve cannot keep the webhook unready forever.
#[derive(Debug, Default)]
pub struct Readiness {
    policies_loaded: AtomicBool,
    replicators_pending: AtomicUsize,
}

/// The `/readyz` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyReport {
    pub ready: bool,
    pub policies_loaded: bool,
    pub replication_synced: bool,
}

impl Readiness {
    pub fn set_policies_loaded(&self) {
        self.policies_loaded.store(true, Ordering::SeqCst);
    }

    /// One more replicator that has not finished its initial list.
    pub fn replicator_started(&self) {
        self.replicators_pending.fetch_add(1, Ordering::SeqCst);
    }

    /// A replicator finished its initial list.
    pub fn replicator_synced(&self) {
        let _ = self.replicators_pending.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn report(&self) -> ReadyReport {
        let policies_loaded = self.policies_loaded.load(Ordering::SeqCst);
        ReadyReport {
            ready: policies_loaded,
            policies_loaded,
            replication_synced: self.replicators_pending.load(Ordering::SeqCst) == 0,
        }
    }
}
