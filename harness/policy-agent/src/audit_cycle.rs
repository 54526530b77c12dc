//! The audit cycle: full scan + real-time denials → one compliance report per cycle.
//!
//! **Why the webhook's denials, not the API server's audit log.** The webhook's `/v1/denials` is what
//! Gatekeeper itself knows: each denial already carries the policy ids (= assignment ids) that
//! denied it, so no message parsing is needed to map it back; and it exists on every backend,
//! whereas an audit log needs API-server flags and file access the agent's least-privilege identity
//! does not have (k3s and managed clusters do not expose it at all).
//!
//! Violations map to assignments by id (contracts §2: `{{AzurePolicyID}}` is the full assignment id;
//! compared case-insensitively as ARM ids are). Violations of assignments that are no longer active
//! are left out: only active assignments are reported.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::SubsecRound;
use contracts::dataplane::{
    Assignment, AssignmentCompliance, ComplianceReport, ComplianceState, RefreshError, Violation, ViolationSource,
};
use contracts::webhook::{AuditViolation, Denial, ResourceRef};
use tokio::sync::Mutex;

use crate::dataplane_client::DataplaneClient;
use crate::http_client::HttpError;
use crate::metrics::{CycleKind, Metrics};
use crate::refresh_cycle::RefreshState;
use crate::reporting::{FlushOutcome, Reporter};
use crate::triggers::Cycle;
use crate::webhook_client::WebhookClient;

#[derive(Debug, thiserror::Error)]
pub enum AuditCycleError {
    #[error("no active assignment list (dataplane: {0})")]
    Assignments(#[source] HttpError),
    #[error("webhook: {0}")]
    Webhook(#[source] HttpError),
    #[error("report for cycle {cycle} not acknowledged yet ({pending} pending): {error}")]
    NotAcknowledged { cycle: u64, pending: usize, error: String },
}

/// Builds the report for one cycle. Pure, so it is tested without any server.
pub fn build_report(
    cycle: u64,
    cluster_id: &str,
    assignments: &[Assignment],
    audit: &[AuditViolation],
    denials: &[Denial],
    refresh_errors: Vec<RefreshError>,
) -> ComplianceReport {
    let index: HashMap<String, usize> =
        assignments.iter().enumerate().map(|(i, a)| (a.assignment_id.to_ascii_lowercase(), i)).collect();
    let mut per: Vec<BTreeSet<Violation>> = vec![BTreeSet::new(); assignments.len()];
    let mut add = |id: &str, v: Violation| {
        if let Some(&i) = index.get(&id.to_ascii_lowercase()) {
            per[i].insert(v);
        }
    };
    let violation = |r: &ResourceRef, message: &str, source| Violation {
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        message: message.to_string(),
        source,
    };
    for v in audit {
        add(&v.id, violation(&v.resource, &v.resolution.message, ViolationSource::Audit));
    }
    for d in denials {
        for v in &d.violations {
            add(&v.id, violation(&d.resource, &v.message, ViolationSource::Admission));
        }
    }
    let active: BTreeSet<String> = index.keys().cloned().collect();
    ComplianceReport {
        report_id: uuid::Uuid::new_v4().to_string(),
        cluster_id: cluster_id.to_string(),
        cycle,
        // Whole seconds on the wire (`2019-06-01T00:00:00Z`).
        generated_at: chrono::Utc::now().trunc_subsecs(0),
        assignments: assignments
            .iter()
            .zip(per)
            .map(|(a, set)| AssignmentCompliance {
                assignment_id: a.assignment_id.clone(),
                compliance_state: if set.is_empty() {
                    ComplianceState::Compliant
                } else {
                    ComplianceState::NonCompliant
                },
                violations: set.into_iter().collect(),
            })
            .collect(),
        refresh_errors: refresh_errors
            .into_iter()
            .filter(|e| active.contains(&e.assignment_id.to_ascii_lowercase()))
            .collect(),
        constraint_assignments: Vec::new(),
    }
}

pub struct AuditCycle {
    dataplane: Arc<DataplaneClient>,
    webhook: WebhookClient,
    refresh_state: Arc<RefreshState>,
    reporter: Mutex<Reporter>,
    metrics: Arc<Metrics>,
    /// Every report generated, in order; only kept when asked for (tests compare it with what the
    /// dataplane holds).
    history: Option<std::sync::Mutex<Vec<ComplianceReport>>>,
}

impl AuditCycle {
    pub fn new(
        dataplane: Arc<DataplaneClient>,
        webhook: WebhookClient,
        refresh_state: Arc<RefreshState>,
        reporter: Reporter,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { dataplane, webhook, refresh_state, reporter: Mutex::new(reporter), metrics, history: None }
    }

    /// Keeps a copy of every generated report (see [`AuditCycle::generated`]).
    pub fn with_history(mut self) -> Self {
        self.history = Some(std::sync::Mutex::new(Vec::new()));
        self
    }

    pub fn generated(&self) -> Vec<ComplianceReport> {
        self.history.as_ref().map(|h| h.lock().unwrap().clone()).unwrap_or_default()
    }

    /// Sends whatever is still queued without running a scan (used at shutdown and by tests).
    pub async fn flush(&self) -> FlushOutcome {
        self.reporter.lock().await.flush().await
    }

    /// Runs one cycle; `Ok` once this cycle's report is acknowledged.
    pub async fn audit(&self, cycle: u64) -> Result<(ComplianceReport, FlushOutcome), AuditCycleError> {
        let assignments = match self.dataplane.assignments().await {
            Ok(a) => a,
            Err(e) => {
                self.metrics.error(e.op());
                let known = self.refresh_state.assignments().ok_or(e).map_err(AuditCycleError::Assignments)?;
                tracing::warn!("assignments unavailable; auditing against the last refreshed list");
                known
            }
        };
        let webhook_err = |e: HttpError| {
            self.metrics.error(e.op());
            AuditCycleError::Webhook(e)
        };
        let audit = self.webhook.audit().await.map_err(webhook_err)?;

        let mut reporter = self.reporter.lock().await;
        let since = reporter.acked_cursor();
        let mut denials = self.webhook.denials(since).await.map_err(webhook_err)?;
        if denials.next < since {
            tracing::warn!(
                since,
                next = denials.next,
                "denials cursor went backwards: webhook restarted; reading from 0"
            );
            reporter.reset_cursor();
            denials = self.webhook.denials(0).await.map_err(webhook_err)?;
        }
        let report = build_report(
            cycle,
            self.dataplane.cluster_id(),
            &assignments,
            &audit.violations,
            &denials.denials,
            self.refresh_state.errors(),
        );
        if let Some(h) = &self.history {
            h.lock().unwrap().push(report.clone());
        }
        reporter.enqueue(report.clone(), denials.next);
        let flushed = reporter.flush().await;
        drop(reporter);
        if flushed.acked.contains(&report.report_id) {
            Ok((report, flushed))
        } else {
            Err(AuditCycleError::NotAcknowledged {
                cycle,
                pending: flushed.pending,
                error: flushed.error.clone().unwrap_or_default(),
            })
        }
    }
}

impl Cycle for AuditCycle {
    fn kind(&self) -> CycleKind {
        CycleKind::Audit
    }

    async fn run(&self, cycle: u64) -> Result<String, String> {
        let (report, flushed) = self.audit(cycle).await.map_err(|e| e.to_string())?;
        let non_compliant =
            report.assignments.iter().filter(|a| a.compliance_state == ComplianceState::NonCompliant).count();
        let violations: usize = report.assignments.iter().map(|a| a.violations.len()).sum();
        Ok(format!(
            "assignments={} noncompliant={non_compliant} violations={violations} report_id={} acked={}",
            report.assignments.len(),
            report.report_id,
            flushed.acked.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::webhook::{DeniedViolation, Resolution, ResourceRef};

    fn assignment(id: &str) -> Assignment {
        serde_json::from_value(serde_json::json!({
            "assignmentId": id, "assignmentName": id.rsplit('/').next().unwrap(), "definitionId": "/d", "policyUri": "http://x"
        }))
        .unwrap()
    }

    fn res(kind: &str, ns: &str, name: &str) -> ResourceRef {
        ResourceRef { kind: kind.into(), namespace: ns.into(), name: name.into() }
    }

    #[test]
    fn violations_map_to_assignments_by_id_and_merge_denials() {
        let a1 = "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a1";
        let a2 = "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a2";
        let audit = vec![
            AuditViolation {
                id: a1.to_uppercase(),
                resource: res("pods", "team", "p1"),
                resolution: Resolution { message: "m1".into() },
            },
            AuditViolation {
                id: "/gone".into(),
                resource: res("pods", "team", "p2"),
                resolution: Resolution { message: "x".into() },
            },
        ];
        let denials = vec![Denial {
            seq: 4,
            time: chrono::Utc::now(),
            uid: "u".into(),
            operation: "CREATE".into(),
            resource: res("pods", "team", "p3"),
            violations: vec![
                DeniedViolation { id: a1.into(), message: "m3".into() },
                DeniedViolation { id: a1.into(), message: "m3".into() },
            ],
        }];
        let errors = vec![
            RefreshError { assignment_id: a2.into(), message: "download failed".into() },
            RefreshError { assignment_id: "/gone".into(), message: "stale".into() },
        ];
        let r = build_report(9, "/c", &[assignment(a1), assignment(a2)], &audit, &denials, errors);
        assert_eq!(r.cycle, 9);
        assert!(uuid::Uuid::parse_str(&r.report_id).is_ok());
        let first = &r.assignments[0];
        assert_eq!(first.compliance_state, ComplianceState::NonCompliant);
        assert_eq!(first.violations.len(), 2, "unknown ids dropped, duplicate denial entries merged");
        assert_eq!(first.violations[0].source, ViolationSource::Audit);
        assert_eq!(first.violations[1].source, ViolationSource::Admission);
        assert_eq!(r.assignments[1].compliance_state, ComplianceState::Compliant);
        assert_eq!(r.refresh_errors.len(), 1, "errors of inactive assignments are not reported");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["assignments"][0]["complianceState"], "NonCompliant");
        assert_eq!(json["assignments"][0]["violations"][1]["source"], "admission");
        let generated_at = json["generatedAt"].as_str().unwrap();
        assert!(generated_at.ends_with('Z') && !generated_at.contains('.'), "{generated_at}");
    }
}
