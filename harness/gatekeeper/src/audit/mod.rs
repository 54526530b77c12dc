//! Gatekeeper's audit (reference §1.9, design point 3), as `gatekeeper-audit` runs it: every
//! `--audit-interval` and on demand (`POST /v1/audit/run`), one audit of the whole cluster:
//! * [`object_listing`]: the kinds the constraints match, resolved through discovery and listed
//!   from the API server;
//! * [`cycle`]: one audit over a policy snapshot: violations (`PolicyClient::audit_json`) and what
//!   each constraint judged (`Constraint::matches`), as a [`contracts::gatekeeper::AuditReport`];
//! * [`constraint_status`]: each constraint's `status` (`auditTimestamp`, `totalViolations`, the
//!   first `--constraint-violations-limit` `violations`) through the status subresource.
//!
//! [`Audit`] keeps the last report for `GET /v1/audit` and runs audits one at a time.

pub mod constraint_status;
pub mod cycle;
pub mod object_listing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use contracts::gatekeeper::{AuditReport, STATUS_VIOLATIONS_LIMIT};

use crate::webhook::SharedPolicy;
use crate::webhook::readiness::Readiness;

/// How long an on-demand audit waits for the policy to be loaded before it gives up.
pub const READINESS_WAIT: Duration = Duration::from_secs(30);

/// Gatekeeper's default `--audit-interval`.
pub const DEFAULT_AUDIT_INTERVAL: Duration = Duration::from_secs(60);

/// How the audit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Time between two audits; zero runs audits only on demand (Gatekeeper: 0 disables).
    pub interval: Duration,
    /// How many violations a constraint's `status.violations` keeps.
    pub violations_limit: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { interval: DEFAULT_AUDIT_INTERVAL, violations_limit: STATUS_VIOLATIONS_LIMIT }
    }
}

/// Why an audit produced no report.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("this process runs without an API server, so it has nothing to audit")]
    NoApiServer,
    #[error("the policy is not loaded yet (waited {0:?}; see GET /readyz): an audit now would miss constraints")]
    NotReady(Duration),
    #[error("discovering which resources serve the audited kinds: {0}")]
    Discovery(#[source] kube::Error),
    #[error("evaluating the listed objects against the constraints: {0}")]
    Evaluation(#[from] policy_engine::gatekeeper_v3::GatekeeperError),
    #[error("the audit's evaluation task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What an audit needs of the cluster.
struct Cluster {
    client: kube::Client,
    policy: Arc<SharedPolicy>,
    readiness: Arc<Readiness>,
}

/// The audit of one process: the last report, and the runner of new ones.
pub struct Audit {
    cluster: Option<Cluster>,
    violations_limit: usize,
    last: RwLock<Option<Arc<AuditReport>>>,
    /// Audits started so far; the next audit's `cycle` is one more.
    started: AtomicU64,
    /// One audit at a time.
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("with_api_server", &self.cluster.is_some())
            .field("started", &self.started)
            .finish()
    }
}

impl Audit {
    /// An audit of the cluster behind `client`, against the webhook's policy once it is ready.
    pub fn new(client: kube::Client, policy: Arc<SharedPolicy>, readiness: Arc<Readiness>, limit: usize) -> Self {
        Self::with(Some(Cluster { client, policy, readiness }), limit)
    }

    /// No API server (a webhook serving a fixed policy): no report, ever.
    pub fn without_api_server() -> Self {
        Self::with(None, STATUS_VIOLATIONS_LIMIT)
    }

    fn with(cluster: Option<Cluster>, violations_limit: usize) -> Self {
        Self {
            cluster,
            violations_limit,
            last: RwLock::new(None),
            started: AtomicU64::new(0),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// The last finished audit, if any.
    pub fn last(&self) -> Option<Arc<AuditReport>> {
        self.last.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs an audit that starts after this call and returns its report. Callers that arrive
    /// while one audit runs share the next one, so a burst of triggers costs one extra audit, and
    /// every caller gets results that include what changed before it asked.
    pub async fn run(&self) -> Result<Arc<AuditReport>, AuditError> {
        let cluster = self.cluster.as_ref().ok_or(AuditError::NoApiServer)?;
        let arrived = self.started.load(Ordering::SeqCst);
        if tokio::time::timeout(READINESS_WAIT, cluster.readiness.wait()).await.is_err() {
            return Err(AuditError::NotReady(READINESS_WAIT));
        }
        let _one_at_a_time = self.running.lock().await;
        if let Some(last) = self.last().filter(|last| last.cycle > arrived) {
            return Ok(last);
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot = cluster.policy.snapshot();
        let report = cycle::audit(&cluster.client, snapshot, number).await?;
        constraint_status::write_all(&cluster.client, &report, self.violations_limit).await;
        let report = Arc::new(report);
        *self.last.write().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        Ok(report)
    }

    /// Audits every `interval`, the first as soon as the policy is loaded. Returns at once for a
    /// zero interval, or without an API server.
    pub async fn run_every(self: Arc<Self>, interval: Duration) {
        let Some(cluster) = self.cluster.as_ref().filter(|_| !interval.is_zero()) else { return };
        cluster.readiness.wait().await;
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.run().await {
                Ok(report) => tracing::info!(
                    cycle = report.cycle,
                    constraints = report.constraints.len(),
                    violations = report.constraints.iter().map(|c| c.total_violations).sum::<u64>(),
                    "audit finished"
                ),
                Err(e) => tracing::warn!(error = %e, "audit failed"),
            }
        }
    }
}
