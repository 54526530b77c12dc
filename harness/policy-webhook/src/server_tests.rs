//! Route-level tests: the router driven in memory (no TLS; `tests/https.rs` covers the real server).

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::router;
use crate::admission::test_support::{engine_with, pod_review};
use crate::shared_engine::SharedEngine;
use crate::state::AppState;

const PRIVILEGED: &str = r#"package admission
import data.k8s.matches
deny[{"id": "no-priv", "resource": {"kind": "pods", "namespace": namespace, "name": name}, "resolution": {"message": "privileged containers are not allowed"}}] {
    matches[["pods", namespace, name, matched]]
    matched.spec.containers[_].securityContext.privileged
}"#;

fn state() -> Arc<AppState> {
    let engine = engine_with(&[("azure-policy/priv/policy.rego", PRIVILEGED)]);
    let state = Arc::new(AppState::new(SharedEngine::new(engine), 16, 64 * 1024));
    state.readiness.set_policies_loaded();
    state
}

async fn call(state: &Arc<AppState>, method: &str, uri: &str, body: Body) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().method(method).uri(uri).header("content-type", "application/json").body(body).unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec())
}

async fn admit(state: &Arc<AppState>, review: &Value) -> Value {
    let (status, body) = call(state, "POST", "/v1/admit", Body::from(review.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn admit_echoes_uid_and_version_and_denies_with_the_message() {
    let state = state();
    for version in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
        let mut review = pod_review("web", true);
        review["apiVersion"] = json!(version);
        let out = admit(&state, &review).await;
        assert_eq!(out["apiVersion"], version);
        assert_eq!(out["response"]["uid"], "uid-web");
        assert_eq!(out["response"]["allowed"], false);
        assert_eq!(out["response"]["status"]["message"], "privileged containers are not allowed");
        assert_eq!(out["response"]["status"]["reason"], "privileged containers are not allowed");
    }
    let out = admit(&state, &pod_review("ok", false)).await;
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(out["response"]["uid"], "uid-ok");
}

#[tokio::test]
async fn malformed_and_oversized_reviews_are_400_with_a_reason() {
    let state = state();
    let (status, body) = call(&state, "POST", "/v1/admit", Body::from("{nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("not valid JSON"));
    let mut big = pod_review("big", false);
    big["request"]["object"]["metadata"]["annotations"] = json!({"filler": "x".repeat(70 * 1024)});
    let (status, body) = call(&state, "POST", "/v1/admit", Body::from(big.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("exceeds the limit of 65536 bytes"));
    let metrics = String::from_utf8(call(&state, "GET", "/metrics", Body::empty()).await.1).unwrap();
    assert!(metrics.contains("policy_webhook_validation_request_count{admission_status=\"bad_request\"} 2"));
}

#[tokio::test]
async fn denials_feed_and_metrics_follow_decisions() {
    let state = state();
    admit(&state, &pod_review("a", true)).await;
    admit(&state, &pod_review("b", false)).await;
    let mut nameless = pod_review("", true);
    nameless["request"]["operation"] = json!("UPDATE");
    admit(&state, &nameless).await;
    let (status, body) = call(&state, "GET", "/v1/denials?since=0", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_slice(&body).unwrap();
    let denials = page["denials"].as_array().unwrap();
    assert_eq!(denials.len(), 2);
    assert_eq!(denials[0]["resource"], json!({"kind": "pods", "namespace": "team", "name": "a"}));
    assert_eq!(
        denials[0]["violations"],
        json!([{"id": "no-priv", "message": "privileged containers are not allowed"}])
    );
    // A generateName create: the engine's generated name is not reported, the (empty) real one is.
    assert_eq!(denials[1]["resource"], json!({"kind": "pods", "namespace": "team"}));
    assert_eq!(denials[1]["operation"], "UPDATE");
    let next = page["next"].as_u64().unwrap();
    let (_, body) = call(&state, "GET", &format!("/v1/denials?since={next}"), Body::empty()).await;
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["denials"], json!([]));
    let metrics = String::from_utf8(call(&state, "GET", "/metrics", Body::empty()).await.1).unwrap();
    assert!(metrics.contains("policy_webhook_validation_request_count{admission_status=\"deny\"} 2"));
    assert!(metrics.contains("policy_webhook_validation_request_count{admission_status=\"allow\"} 1"));
    assert!(metrics.contains("policy_webhook_loaded_modules") && metrics.contains("# TYPE"));
}

#[tokio::test]
async fn readyz_waits_for_policies_and_healthz_does_not() {
    let state = Arc::new(AppState::new(SharedEngine::default(), 4, 1024));
    assert_eq!(call(&state, "GET", "/healthz", Body::empty()).await.0, StatusCode::OK);
    let (status, body) = call(&state, "GET", "/readyz", Body::empty()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["policiesLoaded"], false);
    state.readiness.set_policies_loaded();
    assert_eq!(call(&state, "GET", "/readyz", Body::empty()).await.0, StatusCode::OK);
}

/// `/v1/status` follows the loader and the replicated data: module ids, rejected keys with their
/// location, the object count and the readiness flags, agreeing with the `/metrics` gauges.
#[tokio::test]
async fn status_reports_loaded_modules_rejected_keys_and_replicated_objects() {
    use contracts::EnforcementMode;
    use contracts::webhook::WebhookStatus;
    let get_status = |state: Arc<AppState>| async move {
        let (status, body) = call(&state, "GET", "/v1/status", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice::<WebhookStatus>(&body).unwrap()
    };
    let state = Arc::new(AppState::new(SharedEngine::default(), 16, 64 * 1024));
    state.readiness.replicator_started();
    assert_eq!(get_status(state.clone()).await, WebhookStatus::default());

    let mut loader = crate::policy_loader::PolicyLoader::new(state.clone(), "azure-policy");
    let policy = |rego: &str| std::collections::BTreeMap::from([("policy.rego".to_string(), rego.to_string())]);
    loader.apply("azurepolicy-priv", &policy(PRIVILEGED), EnforcementMode::Default);
    loader.apply("azurepolicy-broken", &policy("package admission\ndeny[x] { x := "), EnforcementMode::Default);
    state.readiness.set_policies_loaded();
    state.engine.update(|e| {
        e.upsert_object("pods", Some("team"), "p1", json!({"metadata": {"name": "p1", "namespace": "team"}}));
        e.upsert_object("namespaces", None, "team", json!({"metadata": {"name": "team"}}));
    });
    let status = get_status(state.clone()).await;
    assert!(status.policies_loaded && !status.replication_synced);
    assert_eq!(status.modules, vec!["azure-policy/azurepolicy-priv/policy.rego"]);
    assert_eq!(status.module_errors.len(), 1, "{status:?}");
    assert_eq!(status.module_errors[0].id, "azure-policy/azurepolicy-broken/policy.rego");
    assert!(status.module_errors[0].line >= 1 && !status.module_errors[0].message.is_empty());
    assert_eq!(status.replicated_objects, 2);

    // The same numbers as the Prometheus gauges, which stay as they were.
    state.metrics.set_replicated_objects(2);
    let metrics = String::from_utf8(call(&state, "GET", "/metrics", Body::empty()).await.1).unwrap();
    assert!(metrics.contains("policy_webhook_loaded_modules 1\n"));
    assert!(metrics.contains("policy_webhook_module_errors 1\n"));
    assert!(metrics.contains("policy_webhook_replicated_objects 2\n"));

    state.readiness.replicator_synced();
    loader.remove("azurepolicy-priv");
    loader.remove("azurepolicy-broken");
    let status = get_status(state.clone()).await;
    assert!(status.replication_synced);
    assert!(status.modules.is_empty() && status.module_errors.is_empty());
    assert_eq!(call(&state, "POST", "/v1/status", Body::empty()).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn audit_reports_replicated_violations_and_refuses_other_methods() {
    let state = state();
    state.engine.update(|e| {
        e.upsert_object(
            "pods",
            Some("team"),
            "p9",
            json!({"metadata": {"name": "p9", "namespace": "team"},
            "spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}}),
        )
    });
    let (status, body) = call(&state, "GET", "/v1/audit", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let audit: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(audit["message"], "total violations:1");
    assert_eq!(audit["violations"][0]["resource"], json!({"kind": "pods", "namespace": "team", "name": "p9"}));
    assert_eq!(call(&state, "POST", "/v1/audit", Body::empty()).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let empty = Arc::new(AppState::new(SharedEngine::default(), 4, 1024));
    let (_, body) = call(&empty, "GET", "/v1/audit", Body::empty()).await;
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"message": "total violations:0"}));
}

/// The policy of a `DoNotEnforce` assignment, as the agent writes it (marked ConfigMap) and the
/// loader loads it: admitted, not in the denial feed, but in the audit; enforced again once the
/// ConfigMap comes back without the mark.
#[tokio::test]
async fn a_do_not_enforce_policy_is_audited_but_not_enforced() {
    use contracts::EnforcementMode;
    let state = Arc::new(AppState::new(SharedEngine::default(), 16, 64 * 1024));
    state.readiness.set_policies_loaded();
    let mut loader = crate::policy_loader::PolicyLoader::new(state.clone(), "azure-policy");
    let data = std::collections::BTreeMap::from([("policy.rego".to_string(), PRIVILEGED.to_string())]);
    assert_eq!(loader.apply("azurepolicy-priv", &data, EnforcementMode::DoNotEnforce), Some(json!({"status": "ok"})));

    assert_eq!(admit(&state, &pod_review("web", true)).await["response"]["allowed"], true);
    let (_, body) = call(&state, "GET", "/v1/denials?since=0", Body::empty()).await;
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["denials"], json!([]));
    state
        .engine
        .update(|e| e.upsert_object("pods", Some("team"), "web", pod_review("web", true)["request"]["object"].clone()));
    let audit: Value = serde_json::from_slice(&call(&state, "GET", "/v1/audit", Body::empty()).await.1).unwrap();
    assert_eq!(audit["message"], "total violations:1");
    assert_eq!(audit["violations"][0]["id"], "no-priv");

    loader.apply("azurepolicy-priv", &data, EnforcementMode::Default);
    let out = admit(&state, &pod_review("web2", true)).await;
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(out["response"]["status"]["message"], "privileged containers are not allowed");
}
