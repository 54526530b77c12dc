//! A webhook stand-in whose full scan changes on every call, so consecutive audit cycles report
//! different states (the fault test needs "changing cluster state" without an API server).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Mounts `/v1/audit` (call k reports `k % 4` violating pods of `ids[0]` and, on every third call,
/// one of `ids[1]`) and `/v1/denials` (one new denial per call).
pub async fn mount_changing(server: &MockServer, ids: Vec<String>, violations_per_call: Option<usize>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let audit_ids = ids.clone();
    Mock::given(method("GET"))
        .and(path("/v1/audit"))
        .respond_with(move |_: &Request| {
            let k = c.fetch_add(1, Ordering::SeqCst) + 1;
            let mut v = Vec::new();
            let n = violations_per_call.unwrap_or((k % 4) as usize);
            for i in 0..n {
                v.push(serde_json::json!({"id": audit_ids[0], "resource": {"kind": "pods", "namespace": "team-a", "name": format!("pod-{k}-{i}")},
                                          "resolution": {"message": format!("violation {i} in scan {k}")}}));
            }
            if k.is_multiple_of(3) && audit_ids.len() > 1 {
                v.push(serde_json::json!({"id": audit_ids[1], "resource": {"kind": "services", "namespace": "team-b", "name": "lb"},
                                          "resolution": {"message": "public load balancer"}}));
            }
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"message": format!("total violations:{}", v.len()), "violations": v}))
        })
        .mount(server)
        .await;
    let seq = Arc::new(AtomicU64::new(0));
    Mock::given(method("GET"))
        .and(path("/v1/denials"))
        .respond_with(move |r: &Request| {
            let since: u64 = r.url.query_pairs().find(|(k, _)| k == "since").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
            let next = seq.fetch_add(1, Ordering::SeqCst) + 1;
            let denials: Vec<_> = (since..next)
                .map(|s| serde_json::json!({"seq": s, "time": "2019-06-01T00:00:00Z", "uid": format!("u{s}"), "operation": "CREATE",
                                            "resource": {"kind": "pods", "namespace": "team-a", "name": format!("denied-{s}")},
                                            "violations": [{"id": ids[0], "message": format!("denied {s}")}]}))
                .collect();
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"next": next, "denials": denials}))
        })
        .mount(server)
        .await;
}
