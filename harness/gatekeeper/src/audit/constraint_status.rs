//! An audit's results in each constraint's `status` (reference §1.9), written through the status
//! subresource with a merge patch: `auditTimestamp` (RFC 3339, when the audit started),
//! `totalViolations` (every violation) and `violations` (the first `limit`, each
//! `{enforcementAction, group, version, kind, namespace, name, message}`, messages cut as
//! Gatekeeper cuts them). A merge patch replaces the whole `violations` list, so an object that no
//! longer violates drops out; other status fields (written by others) are left alone.
//!
//! A constraint that cannot be written (deleted since the snapshot, say) is logged and skipped.

use chrono::SecondsFormat;
use contracts::gatekeeper::{AuditReport, ConstraintAudit, StatusViolation};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::webhook::policy_cache::constraint_resource;

/// Longest message kept in `status.violations` (Gatekeeper's `msgSize`); longer ones are cut to
/// 253 bytes and `...`.
pub const MESSAGE_LIMIT: usize = 256;

/// Writes every constraint's status from `report`.
pub async fn write_all(client: &kube::Client, report: &AuditReport, limit: usize) {
    let timestamp = report.audit_timestamp.to_rfc3339_opts(SecondsFormat::Secs, true);
    for audit in &report.constraints {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &constraint_resource(&audit.kind));
        let patch = status_patch(audit, &timestamp, limit);
        if let Err(e) = api.patch_status(&audit.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!(kind = %audit.kind, constraint = %audit.name, error = %e, "cannot write the audit status");
        }
    }
}

/// The merge patch of one constraint's status.
pub fn status_patch(audit: &ConstraintAudit, timestamp: &str, limit: usize) -> Value {
    let violations: Vec<StatusViolation> = audit
        .violations
        .iter()
        .take(limit)
        .map(|v| StatusViolation { message: cut(&v.message), ..v.clone() })
        .collect();
    json!({"status": {
        "auditTimestamp": timestamp,
        "totalViolations": audit.total_violations,
        "violations": violations,
    }})
}

/// A message as the status keeps it: at most [`MESSAGE_LIMIT`] bytes.
fn cut(message: &str) -> String {
    if message.len() <= MESSAGE_LIMIT {
        return message.to_string();
    }
    let mut end = MESSAGE_LIMIT - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::gatekeeper::ObjectKey;

    fn violation(name: &str, message: &str) -> StatusViolation {
        StatusViolation {
            enforcement_action: "deny".into(),
            object: ObjectKey { version: "v1".into(), kind: "Pod".into(), name: name.into(), ..Default::default() },
            message: message.into(),
        }
    }

    #[test]
    fn the_status_keeps_the_first_violations_and_counts_them_all() {
        let audit = ConstraintAudit {
            kind: "K8sX".into(),
            name: "c".into(),
            total_violations: 3,
            violations: vec![violation("a", "no"), violation("b", &"x".repeat(300)), violation("c", "no")],
            judged: Vec::new(),
        };
        let patch = status_patch(&audit, "2026-01-01T00:00:00Z", 2);
        let status = &patch["status"];
        assert_eq!(status["totalViolations"], 3);
        assert_eq!(status["auditTimestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(status["violations"].as_array().unwrap().len(), 2);
        assert_eq!(status["violations"][0]["name"], "a");
        let long = status["violations"][1]["message"].as_str().unwrap();
        assert_eq!((long.len(), long.ends_with("...")), (256, true));
    }
}
