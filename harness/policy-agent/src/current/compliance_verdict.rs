//! One assignment's `ConstraintCompliance` from what is known about its Constraint (pure, so it is
//! unit-tested): the refresh's reasons, the audit's judged objects and violations, the real-time
//! results of the last 45 minutes, and the staleness of the Constraint's audit status (reference
//! §3.1, §3.6).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use contracts::dataplane::{
    ComplianceReason, ComplianceState, Component, ConstraintCompliance, ReasonCode, ViolationSource,
};
use contracts::gatekeeper::{AuditReport, Denial, ObjectKey};

use super::install_state::AssignmentInstall;

/// Real-time results older than this are not reported (reference §3.1: "all violations within the
/// last 45 minutes").
pub const DENIAL_WINDOW: TimeDelta = TimeDelta::minutes(45);
/// A Constraint whose last audit is older than this is stale (reference §3.6).
pub const STALE_AFTER: TimeDelta = TimeDelta::hours(1);

/// What the API server shows of a Constraint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConstraintStatus {
    /// `status.auditTimestamp`, when an audit has written one.
    pub audit_timestamp: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
}

/// Everything one assignment's verdict is built from.
pub struct Evidence<'a> {
    pub install: &'a AssignmentInstall,
    pub audit: Option<&'a AuditReport>,
    pub denials: &'a [Denial],
    /// `None` when the Constraint could not be read.
    pub status: Option<&'a ConstraintStatus>,
    pub now: DateTime<Utc>,
}

pub fn constraint_compliance(assignment_id: &str, e: &Evidence<'_>) -> ConstraintCompliance {
    let mut reasons = e.install.reasons.clone();
    let mut components = Vec::new();
    match &e.install.constraint {
        None if reasons.is_empty() => reasons.push(ComplianceReason {
            code: ReasonCode::ConstraintNotProcessed,
            message: "the add-on has not installed this assignment's Constraint yet".into(),
        }),
        None => {}
        Some(c) => {
            reasons.extend(staleness(&c.name, e.status, e.now));
            if let Some((report, found)) = e.audit.and_then(|r| r.constraint(&c.kind, &c.name).map(|found| (r, found)))
            {
                let at = report.audit_timestamp;
                let mut violated = std::collections::BTreeSet::new();
                for v in &found.violations {
                    violated.insert(&v.object);
                    push_unique(&mut components, component(&v.object, &v.message, at, Some(ViolationSource::Audit)));
                }
                for key in found.judged.iter().filter(|k| !violated.contains(k)) {
                    push_unique(&mut components, component(key, "", at, None));
                }
            }
            // Newest first per object and message, so a repeated denial is one component.
            let mut latest: BTreeMap<(&ObjectKey, &str), DateTime<Utc>> = BTreeMap::new();
            for d in e.denials.iter().filter(|d| d.constraint_kind == c.kind && d.constraint_name == c.name) {
                if e.now - d.time <= DENIAL_WINDOW {
                    let slot = latest.entry((&d.object, d.message.as_str())).or_insert(d.time);
                    *slot = (*slot).max(d.time);
                }
            }
            for ((key, message), at) in latest {
                components.push(component(key, message, at, Some(ViolationSource::Admission)));
            }
        }
    }
    let mut verdict = ConstraintCompliance {
        assignment_id: assignment_id.to_string(),
        compliance_state: ComplianceState::Compliant,
        components,
        reasons,
    };
    verdict.compliance_state = verdict.derived_state();
    verdict
}

/// `ConstraintStatusStale` (an audit status older than an hour) or `ConstraintNotProcessed` (no audit
/// status, and the Constraint is older than an hour).
fn staleness(name: &str, status: Option<&ConstraintStatus>, now: DateTime<Utc>) -> Option<ComplianceReason> {
    let status = status?;
    match (status.audit_timestamp, status.created) {
        (Some(at), _) if now - at > STALE_AFTER => Some(ComplianceReason {
            code: ReasonCode::ConstraintStatusStale,
            message: format!("constraint {name}: Gatekeeper last audited it at {}", at.to_rfc3339()),
        }),
        (None, Some(created)) if now - created > STALE_AFTER => Some(ComplianceReason {
            code: ReasonCode::ConstraintNotProcessed,
            message: format!("constraint {name}: no audit status since it was created at {}", created.to_rfc3339()),
        }),
        _ => None,
    }
}

fn component(key: &ObjectKey, message: &str, at: DateTime<Utc>, source: Option<ViolationSource>) -> Component {
    Component {
        kind: key.kind.clone(),
        group: key.group.clone(),
        version: key.version.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        compliance_state: if source.is_some() { ComplianceState::NonCompliant } else { ComplianceState::Compliant },
        timestamp: at,
        message: message.to_string(),
        source,
    }
}

fn push_unique(components: &mut Vec<Component>, c: Component) {
    if !components.contains(&c) {
        components.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::current::install_state::ConstraintRef;
    use contracts::gatekeeper::{ConstraintAudit, StatusViolation};

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            version: "v1".into(),
            kind: "Pod".into(),
            namespace: "team".into(),
            name: name.into(),
        }
    }

    fn installed() -> AssignmentInstall {
        AssignmentInstall { constraint: Some(ConstraintRef { kind: "K".into(), name: "c".into() }), reasons: vec![] }
    }

    fn denial(seq: u64, name: &str, minutes_ago: i64, now: DateTime<Utc>) -> Denial {
        Denial {
            seq,
            time: now - TimeDelta::minutes(minutes_ago),
            constraint_kind: "K".into(),
            constraint_name: "c".into(),
            enforcement_action: "deny".into(),
            object: key(name),
            message: "no".into(),
        }
    }

    #[test]
    fn judged_objects_violations_and_recent_denials_become_components() {
        let now = Utc::now();
        let audit = AuditReport {
            cycle: 1,
            audit_timestamp: now - TimeDelta::minutes(5),
            constraints: vec![ConstraintAudit {
                kind: "K".into(),
                name: "c".into(),
                total_violations: 1,
                violations: vec![StatusViolation {
                    enforcement_action: "deny".into(),
                    object: key("bad"),
                    message: "bad pod".into(),
                }],
                judged: vec![key("bad"), key("good")],
            }],
        };
        let denials = [denial(1, "new", 10, now), denial(2, "new", 5, now), denial(3, "old", 50, now)];
        let status = ConstraintStatus { audit_timestamp: Some(audit.audit_timestamp), created: None };
        let install = installed();
        let e = Evidence { install: &install, audit: Some(&audit), denials: &denials, status: Some(&status), now };
        let v = constraint_compliance("/a", &e);
        assert_eq!(v.compliance_state, ComplianceState::NonCompliant);
        assert!(v.reasons.is_empty());
        let summary: Vec<(&str, ComplianceState, Option<ViolationSource>)> =
            v.components.iter().map(|c| (c.name.as_str(), c.compliance_state, c.source)).collect();
        assert_eq!(
            summary,
            [
                ("bad", ComplianceState::NonCompliant, Some(ViolationSource::Audit)),
                ("good", ComplianceState::Compliant, None),
                ("new", ComplianceState::NonCompliant, Some(ViolationSource::Admission)),
            ]
        );
        assert_eq!(v.components[2].timestamp, now - TimeDelta::minutes(5), "the latest of repeated denials");
        assert_eq!((v.components[0].version.as_str(), v.components[0].namespace.as_str()), ("v1", "team"));
    }

    #[test]
    fn stale_and_unprocessed_statuses_are_reasons() {
        let now = Utc::now();
        let install = installed();
        let stale = ConstraintStatus { audit_timestamp: Some(now - TimeDelta::minutes(61)), created: None };
        let e = Evidence { install: &install, audit: None, denials: &[], status: Some(&stale), now };
        let v = constraint_compliance("/a", &e);
        assert_eq!(v.reasons[0].code, ReasonCode::ConstraintStatusStale);
        assert_eq!(v.compliance_state, ComplianceState::NonCompliant);
        let unprocessed = ConstraintStatus { audit_timestamp: None, created: Some(now - TimeDelta::hours(2)) };
        let e = Evidence { status: Some(&unprocessed), ..e };
        assert_eq!(constraint_compliance("/a", &e).reasons[0].code, ReasonCode::ConstraintNotProcessed);
        let young = ConstraintStatus { audit_timestamp: None, created: Some(now - TimeDelta::minutes(3)) };
        let e = Evidence { status: Some(&young), ..e };
        let v = constraint_compliance("/a", &e);
        assert!(v.reasons.is_empty() && v.compliance_state == ComplianceState::Compliant);
    }

    #[test]
    fn a_never_installed_constraint_has_its_refresh_reasons_and_no_components() {
        let now = Utc::now();
        let mut install = AssignmentInstall::default();
        install.reason(ReasonCode::InvalidConstraint, "must be of type integer");
        let denials = [denial(1, "x", 1, now)];
        let e = Evidence { install: &install, audit: None, denials: &denials, status: None, now };
        let v = constraint_compliance("/a", &e);
        assert!(v.components.is_empty());
        assert_eq!(v.reasons.len(), 1);
        assert_eq!(v.compliance_state, ComplianceState::Error);
        let nothing = AssignmentInstall::default();
        let v = constraint_compliance("/a", &Evidence { install: &nothing, ..e });
        assert_eq!(v.reasons[0].code, ReasonCode::ConstraintNotProcessed);
    }
}
