//! One audit over a policy snapshot: list what the constraints match, evaluate it
//! (`PolicyClient::audit_json`, the audit enforcement point), and gather, per constraint, its
//! violations and every object it judged (matched), violating or not: the add-on reports the
//! judged objects without a violation as compliant.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use contracts::gatekeeper::{AuditReport, ConstraintAudit, ObjectKey, StatusViolation};
use policy_engine::gatekeeper_v3::{Constraint, ObjectRef, PolicyClient, Review, Violation, enforcement_point};
use serde_json::Value;

use super::AuditError;
use super::object_listing;

/// Audits the cluster behind `client` against `policy`; `cycle` numbers the report.
pub async fn audit(client: &kube::Client, policy: Arc<PolicyClient>, cycle: u64) -> Result<AuditReport, AuditError> {
    let audit_timestamp = Utc::now();
    let wanted = object_listing::wanted_kinds(policy.constraints());
    let resources = object_listing::resolve(client, &wanted).await?;
    let objects = object_listing::list_all(client, &resources).await;
    tracing::debug!(cycle, resources = resources.len(), objects = objects.len(), "audit listed the cluster");
    let constraints = tokio::task::spawn_blocking(move || judge(&policy, &objects)).await??;
    Ok(AuditReport { cycle, audit_timestamp, constraints })
}

/// Every constraint's audit of `objects`, ordered by kind and name (CPU-bound: run it off the
/// async workers).
pub fn judge(policy: &PolicyClient, objects: &[Value]) -> Result<Vec<ConstraintAudit>, AuditError> {
    let violations = policy.audit_json(objects)?;
    let mut constraints: Vec<&Constraint> = policy.constraints().collect();
    constraints.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    let mut audits: Vec<ConstraintAudit> = constraints
        .iter()
        .map(|c| ConstraintAudit {
            kind: c.kind.clone(),
            name: c.name.clone(),
            total_violations: 0,
            violations: Vec::new(),
            judged: Vec::new(),
        })
        .collect();
    let acting: Vec<usize> =
        (0..constraints.len()).filter(|&i| !constraints[i].actions_at(enforcement_point::AUDIT).is_empty()).collect();
    for object in objects {
        let Some(review) = review_of(policy, object) else { continue };
        let key = object_key(&review.resource);
        for &i in &acting {
            if constraints[i].matches(&review).unwrap_or(false) {
                audits[i].judged.push(key.clone());
            }
        }
    }
    let index: HashMap<(&str, &str), usize> =
        constraints.iter().enumerate().map(|(i, c)| ((c.kind.as_str(), c.name.as_str()), i)).collect();
    for violation in violations {
        if let Some(&i) = index.get(&(violation.kind.as_str(), violation.constraint.as_str())) {
            audits[i].total_violations += 1;
            audits[i].violations.push(status_violation(violation));
        }
    }
    Ok(audits)
}

/// The audit review of one listed object, with its Namespace when synced (as the engine's audit
/// builds it, so `namespaceSelector` matches the same way).
fn review_of(policy: &PolicyClient, object: &Value) -> Option<Review> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or("?");
    let source = format!("{}/{}", text("/kind"), text("/metadata/name"));
    let mut review = match Review::from_object(object.clone(), &source) {
        Ok(review) => review,
        Err(e) => {
            tracing::debug!(object = %source, error = %e, "not judged");
            return None;
        }
    };
    if let Some(ns) = review.resource.namespace.as_deref().and_then(|ns| policy.inventory().namespace(ns)) {
        review.input["namespaceObject"] = ns.clone();
        review.namespace_object = Some(ns.clone());
    }
    Some(review)
}

pub fn object_key(r: &ObjectRef) -> ObjectKey {
    ObjectKey {
        group: r.group.clone(),
        version: r.version.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone().unwrap_or_default(),
        name: r.name.clone(),
    }
}

fn status_violation(v: Violation) -> StatusViolation {
    StatusViolation { enforcement_action: v.enforcement_action, object: object_key(&v.resource), message: v.msg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_engine::gatekeeper_v3::ConstraintTemplate;
    use serde_json::json;

    const REGO: &str = r#"package k8sdisallowedimage
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  startswith(c.image, "nginx")
  msg := sprintf("image %v is not allowed", [c.image])
}"#;

    fn policy() -> PolicyClient {
        let template = json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
            "metadata": {"name": "k8sdisallowedimage"},
            "spec": {"crd": {"spec": {"names": {"kind": "K8sDisallowedImage"}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": REGO}]}});
        let mut client = PolicyClient::new();
        client.add_template(ConstraintTemplate::from_value(&template, "t").unwrap()).unwrap();
        for (name, ns) in [("in-team", "team"), ("elsewhere", "other")] {
            let c = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sDisallowedImage",
                "metadata": {"name": name}, "spec": {"enforcementAction": "dryrun",
                "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "namespaces": [ns]}}});
            client.add_constraint(Constraint::from_value(&c, "c").unwrap()).unwrap();
        }
        client
    }

    fn pod(name: &str, image: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team"},
            "spec": {"containers": [{"name": "app", "image": image}]}})
    }

    #[test]
    fn each_constraint_judges_what_it_matches_and_counts_its_violations() {
        let audits = judge(&policy(), &[pod("web", "nginx:1"), pod("ok", "pause:3")]).unwrap();
        let in_team = audits.iter().find(|a| a.name == "in-team").unwrap();
        assert_eq!(in_team.total_violations, 1);
        assert_eq!(in_team.violations[0].object.name, "web");
        assert_eq!(in_team.violations[0].enforcement_action, "dryrun");
        assert_eq!(in_team.violations[0].message, "image nginx:1 is not allowed");
        let judged: Vec<&str> = in_team.judged.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(judged, vec!["web", "ok"]);
        let elsewhere = audits.iter().find(|a| a.name == "elsewhere").unwrap();
        assert_eq!((elsewhere.total_violations, elsewhere.judged.len()), (0, 0));
    }
}
