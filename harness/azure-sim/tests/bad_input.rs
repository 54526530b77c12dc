//! Bad input gets ARM errors, never a panic, and never changes state: malformed JSON, wrong content
//! type, missing or invalid api-version, unknown routes, wrong methods, huge bodies, and a property
//! test throwing arbitrary bodies at every writable resource.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

async fn raw(w: &World, method: reqwest::Method, url: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
    let mut req =
        w.arm.http.request(method, format!("{}{url}", w.arm.base)).bearer_auth(w.arm.token.clone().unwrap()).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    into_resp(req.send().await.unwrap()).await
}

/// Everything a client can read back, to prove a refused request changed nothing.
async fn observable_state(w: &World) -> Vec<Value> {
    let sub = &w.sub;
    let mut out = Vec::new();
    for path in [
        format!("/subscriptions/{sub}/resourcegroups"),
        format!("/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters"),
        format!("/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments"),
        format!("/subscriptions/{sub}/providers/Microsoft.Features/features"),
    ] {
        let mut body = w.arm.get(&path).await.body;
        for item in body["value"].as_array_mut().into_iter().flatten() {
            item["properties"]["provisioningState"].take();
        }
        out.push(body);
    }
    out
}

#[tokio::test]
async fn malformed_requests_get_arm_errors_and_change_nothing() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    let before = observable_state(&w).await;
    let sub = &w.sub;
    let cluster = format!(
        "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c?api-version=2019-10-01"
    );
    let json_ct = Some("application/json");

    let r = raw(&w, reqwest::Method::PUT, &cluster, json_ct, b"{\"location\": \"westus2\", ".to_vec()).await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequestContent"));
    snap("error_malformed_json", &r, &w);
    let r = raw(&w, reqwest::Method::PUT, &cluster, json_ct, b"[1,2,3]".to_vec()).await;
    assert_eq!(r.code(), "InvalidRequestContent");
    let r = raw(&w, reqwest::Method::PUT, &cluster, Some("text/plain"), b"{}".to_vec()).await;
    assert_eq!((r.status, r.code()), (415, "UnsupportedMediaType"));
    snap("error_wrong_content_type", &r, &w);
    let r = raw(&w, reqwest::Method::GET, &format!("/subscriptions/{sub}/resourcegroups"), None, vec![]).await;
    assert_eq!((r.status, r.code()), (400, "MissingApiVersionParameter"));
    snap("error_missing_api_version", &r, &w);
    let r = raw(
        &w,
        reqwest::Method::GET,
        &format!("/subscriptions/{sub}/resourcegroups?api-version=yesterday"),
        None,
        vec![],
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "InvalidApiVersionParameter"));
    let r = w.arm.get(&format!("/subscriptions/{sub}/providers/Microsoft.Nope/things/x")).await;
    assert_eq!((r.status, r.code()), (404, "InvalidResourceNamespace"));
    snap("error_unknown_namespace", &r, &w);
    let r = w
        .arm
        .get(&format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/widgets/x"))
        .await;
    assert_eq!((r.status, r.code()), (404, "InvalidResourceType"));
    let r = raw(&w, reqwest::Method::GET, "/no/such/route", None, vec![]).await;
    assert_eq!((r.status, r.code()), (404, "NotFound"));
    let r = raw(
        &w,
        reqwest::Method::PATCH,
        &format!("/subscriptions/{sub}/providers?api-version=2019-10-01"),
        None,
        vec![],
    )
    .await;
    assert_eq!((r.status, r.code()), (405, "MethodNotAllowed"));
    let huge = format!("{{\"location\":\"westus2\",\"tags\":{{\"x\":\"{}\"}}}}", "a".repeat(5 * 1024 * 1024));
    let r = raw(
        &w,
        reqwest::Method::PUT,
        &format!("/subscriptions/{sub}/resourcegroups/huge?api-version=2019-10-01"),
        json_ct,
        huge.into_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code()), (413, "RequestEntityTooLarge"));
    snap("error_body_too_large", &r, &w);
    // Wrong shapes inside valid JSON.
    let r = w
        .put_cluster(
            "rg",
            "c",
            json!({"location": "westus2", "properties": {"addonProfiles": {"azurepolicy": {"enabled": "yes"}}}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let r = w.put_cluster("rg", "c", json!({"location": "westus2", "properties": "nope"})).await;
    assert_eq!(r.code(), "InvalidRequestContent");
    let r = w.arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?$filter=resourceId%20gt%201")).await;
    assert_eq!((r.status, r.code()), (400, "InvalidFilterInQueryString"));

    assert_eq!(observable_state(&w).await, before, "refused requests must not change state");
    // And the server still works.
    assert_eq!(w.arm.get(&format!("/subscriptions/{sub}/resourcegroups/rg")).await.status, 200);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 .:/_-]{0,12}".prop_map(Value::String),
        prop_oneof![Just("westus2"), Just("azurepolicy"), Just("enabled"), Just("1.9.1"), Just("EnforceRegoPolicy")]
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("location".to_string()),
            Just("properties".to_string()),
            Just("addonProfiles".to_string()),
            Just("azurepolicy".to_string()),
            Just("enabled".to_string()),
            Just("config".to_string()),
            Just("kubernetesVersion".to_string()),
            Just("policyDefinitionId".to_string()),
            Just("parameters".to_string()),
            Just("notScopes".to_string()),
            Just("enforcementMode".to_string()),
            Just("tags".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Arbitrary bodies (valid JSON of any shape, or arbitrary bytes) against every writable resource:
/// the answer is always a well-formed ARM answer (2xx, or 4xx with an error code) and never a 5xx.
#[test]
fn arbitrary_bodies_never_break_the_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = runtime.block_on(async {
        let w = world().await;
        w.opt_in().await;
        w.cluster("rg", "c", false).await;
        w
    });
    let targets = [
        format!("/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c", w.sub),
        format!("/subscriptions/{}/resourcegroups/rg2", w.sub),
        format!("/subscriptions/{}/providers/Microsoft.Authorization/policyAssignments/p", w.sub),
        format!("/subscriptions/{}/providers/Microsoft.Authorization/policyDefinitions/d", w.sub),
    ];
    let config = ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(body in prop_oneof![arb_json().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..64)], target in 0usize..4)| {
        let r = runtime.block_on(async {
            let path = format!("{}?api-version=2019-10-01", targets[target]);
            let r = raw(&w, reqwest::Method::PUT, &path, Some("application/json"), body.clone()).await;
            // Let any operation the body started settle before the next case.
            if let Some(url) = r.header("azure-asyncoperation") {
                w.arm.poll(url).await;
            }
            r
        });
        prop_assert!(r.status < 500, "status {} for {:?}", r.status, String::from_utf8_lossy(&body));
        if r.status >= 400 {
            prop_assert!(!r.code().is_empty(), "no ARM error code: {:?}", r.body);
        }
    });
    // Still serving, state still readable.
    let ok = runtime.block_on(async { w.arm.get(&format!("/subscriptions/{}/resourcegroups/rg", w.sub)).await.status });
    assert_eq!(ok, 200);
}
