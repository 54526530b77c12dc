//! `POST /v1/admit`: the Gatekeeper v2 manager's admission handler.
//!
//! Read the body (bounded), parse the AdmissionReview, evaluate it against the current policy
//! snapshot, answer in the request's version with its uid, and account for the decision: metrics,
//! a structured decision log line, and the denial feed for the agent.

pub mod decision;
pub mod review;

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use contracts::webhook::{DeniedViolation, ResourceRef};

use crate::denials::NewDenial;
use crate::metrics::Decision;
use crate::state::AppState;
use decision::{Outcome, evaluate};
use review::{BadReview, Review, parse_review, review_response};

/// Reads at most `limit` bytes of `body`. A larger body is refused without buffering the rest.
pub async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, BadReview> {
    to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            BadReview::TooLarge { limit }
        } else {
            BadReview::Unreadable(e.to_string())
        }
    })
}

/// The `/v1/admit` handler.
pub async fn admit(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let started = Instant::now();
    let review = match read_limited(body, state.max_body_bytes).await.and_then(|b| parse_review(&b)) {
        Ok(review) => review,
        Err(bad) => {
            state.metrics.record_admission(Decision::BadRequest, started.elapsed(), 0);
            tracing::warn!(decision = Decision::BadRequest.as_str(), error = %bad, "refused admission request");
            return (StatusCode::BAD_REQUEST, bad.to_string()).into_response();
        }
    };
    let outcome = evaluate(&state.engine.snapshot(), &review);
    let elapsed = started.elapsed();
    account(&state, &review, &outcome, elapsed);
    let (allowed, status) = outcome.response_status();
    Json(review_response(review.version, &review.summary.uid, allowed, status)).into_response()
}

/// Metrics, the decision log and the denial feed for one evaluated review.
fn account(state: &AppState, review: &Review, outcome: &Outcome, elapsed: std::time::Duration) {
    let s = &review.summary;
    let Some(decision) = outcome.decision() else {
        tracing::info!(uid = %s.uid, kind = %s.kind, name = %s.name, "answered registration probe");
        return;
    };
    let violations: &[policy_engine::Violation] = match outcome {
        Outcome::Denied(v) => v,
        _ => &[],
    };
    state.metrics.record_admission(decision, elapsed, violations.len());
    let mut ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    ids.dedup();
    // Comma-separated: tracing has no list values, and a Debug rendering would be a quoted string.
    let policy_ids = ids.join(",");
    let duration_us = elapsed.as_micros() as u64;
    match outcome {
        Outcome::FailedOpen(error) => tracing::warn!(
            uid = %s.uid, kind = %s.kind, namespace = %s.namespace, name = %s.name, operation = %s.operation,
            decision = decision.as_str(), error = %error, duration_us, "policy check failed, allowing"
        ),
        _ => tracing::info!(
            uid = %s.uid, kind = %s.kind, namespace = %s.namespace, name = %s.name, operation = %s.operation,
            dry_run = s.dry_run, decision = decision.as_str(), policy_ids = %policy_ids,
            violations = violations.len(), duration_us, "admission decision"
        ),
    }
    if let Some(first) = violations.first() {
        state.denials.record(NewDenial {
            uid: s.uid.clone(),
            operation: s.operation.clone(),
            // Kind and namespace as the engine normalised them; the name as sent, because the name
            // the engine generates for `generateName` creates never exists in the cluster.
            resource: ResourceRef {
                kind: first.resource.kind.clone(),
                namespace: first.resource.namespace.clone(),
                name: s.name.trim().to_lowercase(),
            },
            violations: violations
                .iter()
                .map(|v| DeniedViolation { id: v.id.clone(), message: v.message.clone() })
                .collect(),
        });
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use policy_engine::PolicyEngine;
    use serde_json::{Value, json};

    /// An engine with the given `(id, rego)` modules loaded; panics on a compile error.
    pub fn engine_with(modules: &[(&str, &str)]) -> PolicyEngine {
        let mut engine = PolicyEngine::new();
        for (id, src) in modules {
            engine.upsert_module(id, src).unwrap_or_else(|e| panic!("{e}"));
        }
        engine
    }

    /// A v1 AdmissionReview creating pod `team/<name>` with one container `app`.
    pub fn pod_review(name: &str, privileged: bool) -> Value {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": format!("uid-{name}"),
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "team", "name": name, "operation": "CREATE",
                "userInfo": {"username": "admin"},
                "object": {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "team"},
                    "spec": {"containers": [{"name": "app", "image": "nginx",
                        "securityContext": {"privileged": privileged}}]}
                }
            }
        })
    }
}
