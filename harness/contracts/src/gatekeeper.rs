//! The bodies of the current add-on's Gatekeeper process read API (`docs/contracts.md` §11):
//! the `gatekeeper` process serves them, policy-agent's current-generation audit reads them.
//!
//! | Route | Body |
//! |---|---|
//! | `GET /v1/audit` | the last finished audit, an [`AuditReport`] (503 before the first) |
//! | `POST /v1/audit/run` | runs an audit now, waits for it, answers its [`AuditReport`] |
//! | `GET /v1/denials?since=<seq>` | real-time admission results, a [`DenialPage`] |
//! | `GET /v1/status` | what the webhook enforces now, a [`GatekeeperStatus`] (no token: names and counts only) |
//!
//! A Constraint's own `status.violations` holds at most [`STATUS_VIOLATIONS_LIMIT`] entries, as
//! Gatekeeper's `--constraint-violations-limit` default; the report carries every one, so the add-on
//! can send Azure up to its 500-record cap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Paths of the read API.
pub const AUDIT_PATH: &str = "/v1/audit";
pub const AUDIT_RUN_PATH: &str = "/v1/audit/run";
pub const DENIALS_PATH: &str = "/v1/denials";
pub const STATUS_PATH: &str = "/v1/status";

/// How many violations Gatekeeper's audit writes into a Constraint's `status.violations`.
pub const STATUS_VIOLATIONS_LIMIT: usize = 20;

/// A Kubernetes object as Gatekeeper names one in a violation: group, version, kind, namespace
/// (empty for a cluster-scoped object) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct ObjectKey {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

/// One entry of a Constraint's `status.violations`, in Gatekeeper's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusViolation {
    pub enforcement_action: String,
    #[serde(flatten)]
    pub object: ObjectKey,
    pub message: String,
}

/// One Constraint's audit: everything it judged and every violation found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintAudit {
    /// The constraint's kind (its template's `spec.crd.spec.names.kind`).
    pub kind: String,
    pub name: String,
    pub total_violations: u64,
    /// Every violation (the Constraint's status keeps the first [`STATUS_VIOLATIONS_LIMIT`]).
    #[serde(default)]
    pub violations: Vec<StatusViolation>,
    /// Every object the constraint matched and evaluated, violating or not: the add-on reports the
    /// ones without a violation as `Compliant` components.
    #[serde(default)]
    pub judged: Vec<ObjectKey>,
}

/// One finished audit of the whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// Counts audits since the process started; the first is 1.
    pub cycle: u64,
    /// When the audit started: what it writes as each Constraint's `status.auditTimestamp`.
    pub audit_timestamp: DateTime<Utc>,
    #[serde(default)]
    pub constraints: Vec<ConstraintAudit>,
}

impl AuditReport {
    /// The audit of one constraint, if the report has it.
    pub fn constraint(&self, kind: &str, name: &str) -> Option<&ConstraintAudit> {
        self.constraints.iter().find(|c| c.kind == kind && c.name == name)
    }
}

/// The `/v1/denials` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialPage {
    /// The cursor for the following call: pass it back as `since`.
    pub next: u64,
    #[serde(default)]
    pub denials: Vec<Denial>,
}

/// One result of a constraint at admission that was not merely `dryrun`: a denial (`deny`) or a
/// warning (`warn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Denial {
    /// Global, never reused; the first is 1.
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub constraint_kind: String,
    pub constraint_name: String,
    pub enforcement_action: String,
    pub object: ObjectKey,
    pub message: String,
}

/// The `/v1/status` body: what admission enforces now. A client that changed constraints or
/// synced objects waits on it until admission reflects the change (Gatekeeper itself says so in
/// each Constraint's `status.byPod[].enforced`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatekeeperStatus {
    /// Every constraint loaded into the policy, at the `metadata.generation` it was loaded at.
    #[serde(default)]
    pub constraints: Vec<LoadedConstraint>,
    /// Objects synced into `data.inventory`, every kind together.
    pub synced_objects: u64,
}

/// One loaded constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedConstraint {
    pub kind: String,
    pub name: String,
    /// `metadata.generation` of the object loaded (0 when it had none).
    #[serde(default)]
    pub generation: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_violations_use_gatekeepers_field_names() {
        let v = StatusViolation {
            enforcement_action: "deny".into(),
            object: ObjectKey {
                group: String::new(),
                version: "v1".into(),
                kind: "Pod".into(),
                namespace: "team-a".into(),
                name: "web".into(),
            },
            message: "no".into(),
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"enforcementAction": "deny", "group": "", "version": "v1", "kind": "Pod",
                "namespace": "team-a", "name": "web", "message": "no"})
        );
        assert_eq!(serde_json::from_value::<StatusViolation>(json).unwrap(), v);
    }
}
