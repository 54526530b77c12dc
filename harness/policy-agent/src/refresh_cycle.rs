//! The refresh cycle, as the 2019 add-on ran it: fetch the active assignments, download and fill each
//! Rego, then delete every ConfigMap in the policy namespace and create one per assignment.
//!
//! **Deviation from the 2019 add-on.** Delete-all-then-recreate would silently drop enforcement of an
//! assignment whose Rego cannot be downloaded or filled this cycle. Instead, such an assignment keeps
//! its *last good* policy: from this process's cache, or, on a fresh start, from the ConfigMap already
//! in the cluster (read before the delete). The failure is logged, counted in
//! `policy_agent_errors_total{kind="policy_download"|"placeholder"}` and sent to Azure as a
//! `refreshErrors` entry in the next compliance report. With no last good version either, the
//! assignment has no ConfigMap and the error is still reported.
//!
//! If the assignment list itself cannot be fetched, the cycle fails *without touching the cluster*:
//! an unreachable Azure must not turn off every policy.
//!
//! An assignment in `DoNotEnforce` mode gets its ConfigMap like any other, marked so that the
//! webhook audits with it but does not deny ([`PolicyEntry::to_configmap`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use contracts::dataplane::{Assignment, RefreshError};
use futures::future::join_all;
use serde_json::{Map, Value};

use crate::configmap_cache::{ConfigMapStore, LastGoodCache, PolicyEntry};
use crate::dataplane_client::DataplaneClient;
use crate::http_client::HttpError;
use crate::metrics::{CycleKind, Metrics};
use crate::triggers::Cycle;

/// Fills `{{AzurePolicyID}}` and `{{policyParameters.*}}`; injectable so tests can force failures.
pub type FillFn = Arc<dyn Fn(&str, &str, &Map<String, Value>) -> Result<String, String> + Send + Sync>;

/// The production filler: `policy_engine::fill_placeholders` with the full assignment id as
/// `{{AzurePolicyID}}` (contracts §2), so a violation's id maps straight back to its assignment.
#[cfg(feature = "engine")]
pub fn policy_engine_filler() -> FillFn {
    Arc::new(|rego, id, params| policy_engine::fill_placeholders(rego, id, params).map_err(|e| e.to_string()))
}

/// Without the `engine` feature there is no filler: every substitution fails, visibly.
#[cfg(not(feature = "engine"))]
pub fn policy_engine_filler() -> FillFn {
    Arc::new(|_, _, _| Err("policy-agent was built without the `engine` feature".to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshCycleError {
    #[error("fetching assignments: {0}")]
    Assignments(#[source] HttpError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// What the latest refresh learnt, for the audit cycle: the active assignments and the per-assignment
/// refresh errors to report.
#[derive(Default)]
pub struct RefreshState {
    inner: RwLock<Option<(Vec<Assignment>, Vec<RefreshError>)>>,
}

impl RefreshState {
    pub fn assignments(&self) -> Option<Vec<Assignment>> {
        self.inner.read().unwrap().as_ref().map(|(a, _)| a.clone())
    }

    pub fn errors(&self) -> Vec<RefreshError> {
        self.inner.read().unwrap().as_ref().map(|(_, e)| e.clone()).unwrap_or_default()
    }

    fn set(&self, assignments: Vec<Assignment>, errors: Vec<RefreshError>) {
        *self.inner.write().unwrap() = Some((assignments, errors));
    }
}

/// What one refresh did.
#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    pub configmaps: usize,
    pub deleted: usize,
    pub errors: Vec<RefreshError>,
}

pub struct RefreshCycle {
    dataplane: Arc<DataplaneClient>,
    store: ConfigMapStore,
    fill: FillFn,
    last_good: Mutex<LastGoodCache>,
    state: Arc<RefreshState>,
    metrics: Arc<Metrics>,
}

impl RefreshCycle {
    pub fn new(
        dataplane: Arc<DataplaneClient>,
        store: ConfigMapStore,
        fill: FillFn,
        state: Arc<RefreshState>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { dataplane, store, fill, last_good: Mutex::new(LastGoodCache::default()), state, metrics }
    }

    pub async fn refresh(&self) -> Result<RefreshOutcome, RefreshCycleError> {
        let assignments = self.dataplane.assignments().await.map_err(|e| {
            self.metrics.error(e.op());
            RefreshCycleError::Assignments(e)
        })?;
        let existing = self.store.list().await.inspect_err(|_| self.metrics.error("kube"))?;
        let in_cluster: Vec<PolicyEntry> = existing.iter().filter_map(PolicyEntry::from_configmap).collect();

        let prepared = join_all(assignments.iter().map(|a| self.prepare(a))).await;
        let mut desired = BTreeMap::new();
        let mut errors = Vec::new();
        {
            let mut cache = self.last_good.lock().unwrap();
            for (a, result) in assignments.iter().zip(prepared) {
                match result {
                    Ok(entry) => {
                        cache.put(entry.clone());
                        desired.insert(entry.configmap_name(), entry);
                    }
                    Err((kind, message)) => {
                        self.metrics.error(kind);
                        let fallback = cache.get(&a.assignment_id).cloned().or_else(|| {
                            in_cluster.iter().find(|e| e.assignment_id.eq_ignore_ascii_case(&a.assignment_id)).cloned()
                        });
                        tracing::warn!(assignment = %a.assignment_id, kept_last_good = fallback.is_some(), "{message}");
                        if let Some(mut entry) = fallback {
                            // Keep the name stable even if the entry came back from a ConfigMap, and
                            // follow the enforcement mode even when the Rego cannot be refreshed.
                            entry.assignment_name = a.assignment_name.clone();
                            entry.enforcement_mode = a.enforcement_mode;
                            cache.put(entry.clone());
                            desired.insert(entry.configmap_name(), entry);
                        }
                        errors.push(RefreshError { assignment_id: a.assignment_id.clone(), message });
                    }
                }
            }
            cache.retain_ids(assignments.iter().map(|a| a.assignment_id.as_str()));
        }

        let ns = self.store.namespace().to_string();
        let deleted = self.store.delete_all(&existing).await.inspect_err(|_| self.metrics.error("kube"))?;
        for entry in desired.values() {
            self.store.create_or_replace(&entry.to_configmap(&ns)).await.inspect_err(|_| self.metrics.error("kube"))?;
        }
        self.metrics.configmaps.store(desired.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.state.set(assignments, errors.clone());
        Ok(RefreshOutcome { configmaps: desired.len(), deleted, errors })
    }

    /// Downloads and fills one assignment's Rego. The error is `(metric kind, message)`.
    async fn prepare(&self, a: &Assignment) -> Result<PolicyEntry, (&'static str, String)> {
        let raw = self
            .dataplane
            .download_policy(&a.policy_uri)
            .await
            .map_err(|e| ("policy download", format!("downloading {}: {e}", a.policy_uri)))?;
        let rego = (self.fill)(&raw, &a.assignment_id, &a.parameters)
            .map_err(|e| ("placeholder", format!("filling placeholders of {}: {e}", a.policy_uri)))?;
        Ok(PolicyEntry {
            assignment_id: a.assignment_id.clone(),
            assignment_name: a.assignment_name.clone(),
            definition_id: a.definition_id.clone(),
            enforcement_mode: a.enforcement_mode,
            rego,
        })
    }
}

impl Cycle for RefreshCycle {
    fn kind(&self) -> CycleKind {
        CycleKind::Refresh
    }

    async fn run(&self, _cycle: u64) -> Result<String, String> {
        let o = self.refresh().await.map_err(|e| e.to_string())?;
        Ok(format!("configmaps={} deleted={} refresh_errors={}", o.configmaps, o.deleted, o.errors.len()))
    }
}
