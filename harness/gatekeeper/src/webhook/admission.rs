//! `POST /v1/admit`: Gatekeeper v3's validating admission (reference §1.5, §1.8).
//!
//! The envelope (bounded body, AdmissionReview v1/v1beta1 parsing, HTTP 400 with a reason for a
//! body that is not one) is the 2019 webhook's ([`policy_webhook::admission`]). The decision is
//! Gatekeeper's:
//! * every result of a `deny` action → `allowed: false`, `status {code: 403, reason: Forbidden,
//!   message}`, the message being each result as `[<constraint>] <msg>`, joined by `"\n"`;
//! * every result of a `warn` action → `warnings`, same format, on an allowed answer (status code
//!   299) or a denial alike; `dryrun` results are not surfaced at admission;
//! * an evaluation error → HTTP 500, which the registration's `failurePolicy: Ignore` admits;
//! * requests of Gatekeeper's own service account ([`super::GATEKEEPER_ADMIN`]) are allowed
//!   unreviewed.
//!
//! Every `deny` and `warn` result of a reviewed request goes to the denial log
//! ([`super::denial_log`]), which the add-on reads as real-time results.
//!
//! The harness's registration probe (a dry-run create carrying
//! [`policy_webhook::admission::decision::PROBE_ANNOTATION`]) is denied with its token, so
//! [`super::registration`] can prove the configuration is in force; it is not a Gatekeeper feature.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use contracts::gatekeeper::ObjectKey;
use policy_engine::gatekeeper_v3::{PolicyClient, Review, Violation, enforcement_point};
use policy_webhook::admission::decision::{probe_message, probe_token};
use policy_webhook::admission::read_limited;
use policy_webhook::admission::review::{Review as Envelope, parse_review};
use serde_json::{Value, json};

use super::GATEKEEPER_ADMIN;
use super::denial_log::NewDenial;
use super::server::WebhookState;

/// What the webhook decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing denies; `warnings` from `warn` actions (may be empty).
    Allowed { warnings: Vec<String> },
    /// At least one `deny` result.
    Denied { message: String, warnings: Vec<String> },
    /// Gatekeeper's own service account: not reviewed.
    Exempt,
    /// The harness's registration probe, with its token.
    Probe(String),
    /// The request could not be evaluated (HTTP 500).
    Failed(String),
}

/// `[<constraint>] <msg>`, the format of denial lines and warnings alike.
pub fn line(violation: &Violation) -> String {
    format!("[{}] {}", violation.constraint, violation.msg)
}

/// Decides one parsed request against a policy snapshot. Never panics: an engine panic is an
/// evaluation error like any other.
pub fn decide(policy: &PolicyClient, envelope: &Envelope) -> Decision {
    judge(policy, envelope).0
}

/// The decision and the results behind it that the denial log records: every `deny` and `warn`
/// result of a reviewed request (none for the probe, an exempt request or a failure; `dryrun`
/// results are audit-only).
pub fn judge(policy: &PolicyClient, envelope: &Envelope) -> (Decision, Vec<Violation>) {
    if let Some(token) = probe_token(envelope) {
        return (Decision::Probe(token), Vec::new());
    }
    if envelope.request.pointer("/userInfo/username").and_then(Value::as_str) == Some(GATEKEEPER_ADMIN) {
        return (Decision::Exempt, Vec::new());
    }
    let source = format!("admission request {}", envelope.summary.uid);
    let review = match Review::from_admission_request(envelope.request.clone(), &source) {
        Ok(review) => review,
        Err(e) => return (Decision::Failed(e.to_string()), Vec::new()),
    };
    let violations = match catch_unwind(AssertUnwindSafe(|| policy.review(&review, enforcement_point::WEBHOOK))) {
        Ok(Ok(violations)) => violations,
        Ok(Err(e)) => return (Decision::Failed(e.to_string()), Vec::new()),
        Err(_) => return (Decision::Failed("the policy engine panicked".to_string()), Vec::new()),
    };
    let with_action = |action: &str| violations.iter().filter(|v| v.enforcement_action == action).map(line).collect();
    let denials: Vec<String> = with_action("deny");
    let warnings: Vec<String> = with_action("warn");
    let decision = if denials.is_empty() {
        Decision::Allowed { warnings }
    } else {
        Decision::Denied { message: denials.join("\n"), warnings }
    };
    let recorded =
        violations.into_iter().filter(|v| matches!(v.enforcement_action.as_str(), "deny" | "warn")).collect();
    (decision, recorded)
}

/// A `deny` or `warn` result as the denial log keeps it.
pub fn denial_of(violation: Violation) -> NewDenial {
    let r = violation.resource;
    NewDenial {
        constraint_kind: violation.kind,
        constraint_name: violation.constraint,
        enforcement_action: violation.enforcement_action,
        object: ObjectKey {
            group: r.group,
            version: r.version,
            kind: r.kind,
            namespace: r.namespace.unwrap_or_default(),
            name: r.name,
        },
        message: violation.msg,
    }
}

/// The AdmissionReview answer in the request's version with its uid, or HTTP 500 on a failure.
pub fn respond(envelope: &Envelope, decision: &Decision) -> Response {
    let (allowed, status, warnings) = match decision {
        Decision::Failed(error) => {
            let text = format!("error evaluating the request against the constraints: {error}");
            return (StatusCode::INTERNAL_SERVER_ERROR, text).into_response();
        }
        Decision::Allowed { warnings } if !warnings.is_empty() => (true, json!({"code": 299}), warnings.as_slice()),
        Decision::Allowed { .. } | Decision::Exempt => (true, json!({"code": 200}), &[][..]),
        Decision::Denied { message, warnings } => {
            (false, json!({"code": 403, "reason": "Forbidden", "message": message}), warnings.as_slice())
        }
        Decision::Probe(token) => {
            (false, json!({"code": 403, "reason": "Forbidden", "message": probe_message(token)}), &[][..])
        }
    };
    let mut response = json!({"uid": envelope.summary.uid, "allowed": allowed, "status": status});
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    Json(json!({
        "apiVersion": envelope.version.api_version(),
        "kind": "AdmissionReview",
        "response": response,
    }))
    .into_response()
}

/// The `/v1/admit` handler.
pub async fn admit(State(state): State<Arc<WebhookState>>, body: Body) -> Response {
    let envelope = match read_limited(body, state.max_body_bytes).await.and_then(|b| parse_review(&b)) {
        Ok(envelope) => envelope,
        Err(bad) => {
            tracing::warn!(error = %bad, "refused admission request");
            return (StatusCode::BAD_REQUEST, bad.to_string()).into_response();
        }
    };
    let (decision, results) = judge(&state.policy.snapshot(), &envelope);
    state.denials.record(results.into_iter().map(denial_of));
    let s = &envelope.summary;
    match &decision {
        Decision::Failed(error) => {
            tracing::warn!(uid = %s.uid, kind = %s.kind, namespace = %s.namespace, name = %s.name, error = %error, "evaluation failed (HTTP 500)")
        }
        Decision::Denied { message, .. } => {
            tracing::info!(uid = %s.uid, kind = %s.kind, namespace = %s.namespace, name = %s.name, message = %message, "denied")
        }
        _ => tracing::debug!(uid = %s.uid, kind = %s.kind, decision = ?decision, "admission decision"),
    }
    respond(&envelope, &decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_engine::gatekeeper_v3::{Constraint, ConstraintTemplate};

    const REGO: &str = r#"package k8snolatest
violation[{"msg": "no latest"}] { endswith(input.review.object.spec.containers[_].image, ":latest") }"#;

    fn policy() -> PolicyClient {
        let template = json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
            "metadata": {"name": "k8snolatest"},
            "spec": {"crd": {"spec": {"names": {"kind": "K8sNoLatest"}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": REGO}]}});
        let mut client = PolicyClient::new();
        client.add_template(ConstraintTemplate::from_value(&template, "t").unwrap()).unwrap();
        for action in ["deny", "warn", "dryrun"] {
            let c = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sNoLatest",
                "metadata": {"name": format!("{action}-latest")}, "spec": {"enforcementAction": action}});
            client.add_constraint(Constraint::from_value(&c, "c").unwrap()).unwrap();
        }
        client
    }

    fn envelope(user: &str) -> Envelope {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "team", "name": "web", "operation": "CREATE", "userInfo": {"username": user},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "team"},
                "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}}}});
        parse_review(review.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn deny_and_warn_results_are_recorded_dryrun_and_exempt_ones_are_not() {
        let (decision, recorded) = judge(&policy(), &envelope("alice"));
        assert!(matches!(decision, Decision::Denied { .. }), "{decision:?}");
        let denials: Vec<NewDenial> = recorded.into_iter().map(denial_of).collect();
        let mut actions: Vec<&str> = denials.iter().map(|d| d.enforcement_action.as_str()).collect();
        actions.sort();
        assert_eq!(actions, ["deny", "warn"]);
        let object = &denials[0].object;
        assert_eq!((object.kind.as_str(), object.namespace.as_str(), object.name.as_str()), ("Pod", "team", "web"));
        assert_eq!(denials[0].constraint_kind, "K8sNoLatest");
        let (decision, recorded) = judge(&policy(), &envelope(GATEKEEPER_ADMIN));
        assert_eq!((decision, recorded.len()), (Decision::Exempt, 0));
    }
}
