//! The audit cycle of the current add-on (reference §3.1): Gatekeeper's last audit (or a fresh one
//! when the cycle was triggered through `/trigger/audit`), its real-time results since the last
//! acknowledged report, and each Constraint's status in the API server → one report with a
//! `ConstraintCompliance` per active assignment, sent through the [`Reporter`] (retry, idempotency,
//! the denials cursor advancing only on acknowledgement).
//!
//! Real-time results are kept for 45 minutes and sent with every report in that window, as Azure's
//! reports "include all violations within the last 45 minutes".

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use contracts::dataplane::{ComplianceReport, ComplianceState, ConstraintAssignment};
use contracts::gatekeeper::{AuditReport, Denial};
use serde_json::Value;
use tokio::sync::Mutex;

use super::cluster_objects::AddonObjects;
use super::compliance_verdict::{ConstraintStatus, DENIAL_WINDOW, Evidence, constraint_compliance};
use super::gatekeeper_client::GatekeeperClient;
use super::install_state::{ConstraintRef, InstallState};
use crate::dataplane_client::DataplaneClient;
use crate::http_client::HttpError;
use crate::metrics::{CycleKind, Metrics};
use crate::reporting::{FlushOutcome, Reporter};
use crate::triggers::Cycle;

#[derive(Debug, thiserror::Error)]
pub enum ComplianceCycleError {
    #[error("no active assignment list (dataplane: {0})")]
    Assignments(#[source] HttpError),
    #[error("gatekeeper: {0}")]
    Gatekeeper(#[source] HttpError),
    #[error("report for cycle {cycle} not acknowledged yet ({pending} pending): {error}")]
    NotAcknowledged { cycle: u64, pending: usize, error: String },
}

pub struct ComplianceCycle {
    dataplane: Arc<DataplaneClient>,
    gatekeeper: GatekeeperClient,
    objects: AddonObjects,
    install: Arc<InstallState>,
    reporter: Mutex<Reporter>,
    /// Real-time results of the last 45 minutes, by sequence number.
    recent: Mutex<BTreeMap<u64, Denial>>,
    metrics: Arc<Metrics>,
}

impl ComplianceCycle {
    pub fn new(
        dataplane: Arc<DataplaneClient>,
        gatekeeper: GatekeeperClient,
        client: kube::Client,
        install: Arc<InstallState>,
        reporter: Reporter,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            dataplane,
            gatekeeper,
            objects: AddonObjects::new(client),
            install,
            reporter: Mutex::new(reporter),
            recent: Mutex::new(BTreeMap::new()),
            metrics,
        }
    }

    /// Runs one cycle (`fresh`: ask Gatekeeper for a new audit first); `Ok` once the report is
    /// acknowledged.
    pub async fn audit(
        &self,
        cycle: u64,
        fresh: bool,
    ) -> Result<(ComplianceReport, FlushOutcome), ComplianceCycleError> {
        let assignments = self.assignments().await?;
        let gatekeeper_err = |e: HttpError| {
            self.metrics.error(e.op());
            ComplianceCycleError::Gatekeeper(e)
        };
        let audit = if fresh {
            Some(self.gatekeeper.run_audit().await.map_err(gatekeeper_err)?)
        } else {
            self.gatekeeper.audit().await.map_err(gatekeeper_err)?
        };

        let mut reporter = self.reporter.lock().await;
        let since = reporter.acked_cursor();
        let mut page = self.gatekeeper.denials(since).await.map_err(gatekeeper_err)?;
        let mut recent = self.recent.lock().await;
        if page.next < since {
            tracing::warn!(
                since,
                next = page.next,
                "denials cursor went backwards: gatekeeper restarted; reading from 0"
            );
            reporter.reset_cursor();
            recent.clear();
            page = self.gatekeeper.denials(0).await.map_err(gatekeeper_err)?;
        }
        let now = Utc::now();
        recent.extend(page.denials.into_iter().map(|d| (d.seq, d)));
        recent.retain(|_, d| now - d.time <= DENIAL_WINDOW);
        let denials: Vec<Denial> = recent.values().cloned().collect();
        drop(recent);

        let report = self.report(cycle, &assignments, audit.as_ref(), &denials, now).await;
        reporter.enqueue(report.clone(), page.next);
        let flushed = reporter.flush().await;
        drop(reporter);
        if flushed.acked.contains(&report.report_id) {
            Ok((report, flushed))
        } else {
            Err(ComplianceCycleError::NotAcknowledged {
                cycle,
                pending: flushed.pending,
                error: flushed.error.clone().unwrap_or_default(),
            })
        }
    }

    /// The active assignments: from the dataplane, else (unreachable) those of the last refresh.
    async fn assignments(&self) -> Result<Vec<ConstraintAssignment>, ComplianceCycleError> {
        match self.dataplane.assignment_list().await {
            Ok(list) => Ok(list.constraint_assignments),
            Err(e) => {
                self.metrics.error(e.op());
                let known = self.install.assignments().ok_or(e).map_err(ComplianceCycleError::Assignments)?;
                tracing::warn!("assignments unavailable; reporting on the last refreshed list");
                Ok(known)
            }
        }
    }

    async fn report(
        &self,
        cycle: u64,
        assignments: &[ConstraintAssignment],
        audit: Option<&AuditReport>,
        denials: &[Denial],
        now: DateTime<Utc>,
    ) -> ComplianceReport {
        let mut constraint_assignments = Vec::with_capacity(assignments.len());
        for a in assignments {
            let install = self.install.install(&a.assignment_id);
            let status = match &install.constraint {
                Some(c) => self.status(c).await,
                None => None,
            };
            let evidence = Evidence { install: &install, audit, denials, status: status.as_ref(), now };
            constraint_assignments.push(constraint_compliance(&a.assignment_id, &evidence));
        }
        ComplianceReport {
            report_id: uuid::Uuid::new_v4().to_string(),
            cluster_id: self.dataplane.cluster_id().to_string(),
            cycle,
            generated_at: now.trunc_subsecs(0),
            assignments: Vec::new(),
            refresh_errors: Vec::new(),
            constraint_assignments,
        }
    }

    /// The Constraint's audit timestamp and age, as the API server shows them.
    async fn status(&self, c: &ConstraintRef) -> Option<ConstraintStatus> {
        match self.objects.constraint(c).await {
            Ok(Some(object)) => Some(ConstraintStatus {
                audit_timestamp: object
                    .data
                    .pointer("/status/auditTimestamp")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                created: object.metadata.creation_timestamp.and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0)),
            }),
            Ok(None) => None,
            Err(e) => {
                self.metrics.error("kube");
                tracing::warn!(constraint = %c.name, error = %e, "could not read the constraint's status");
                None
            }
        }
    }

    async fn summary(&self, cycle: u64, fresh: bool) -> Result<String, String> {
        let (report, flushed) = self.audit(cycle, fresh).await.map_err(|e| e.to_string())?;
        let entries = &report.constraint_assignments;
        let count = |state| entries.iter().filter(|c| c.compliance_state == state).count();
        let components: usize = entries.iter().map(|c| c.components.len()).sum();
        Ok(format!(
            "constraint_assignments={} noncompliant={} error={} components={components} report_id={} acked={}",
            entries.len(),
            count(ComplianceState::NonCompliant),
            count(ComplianceState::Error),
            report.report_id,
            flushed.acked.len()
        ))
    }
}

impl Cycle for ComplianceCycle {
    fn kind(&self) -> CycleKind {
        CycleKind::Audit
    }

    async fn run(&self, cycle: u64) -> Result<String, String> {
        self.summary(cycle, false).await
    }

    /// Asked for through `/trigger/audit`: Gatekeeper audits now, so the report is fresh.
    async fn run_triggered(&self, cycle: u64) -> Result<String, String> {
        self.summary(cycle, true).await
    }
}
