//! Fault injection through the Rust API and the admin endpoint.

mod common;

use std::time::{Duration, Instant};

use azure_sim::{Fault, FaultRule};
use common::*;
use serde_json::json;

#[tokio::test]
async fn throttle_status_latency_and_drop() {
    let w = world().await;
    let rgs = format!("/subscriptions/{}/resourcegroups", w.sub);
    let faults = w.sim.faults();

    faults
        .inject(FaultRule::new("/subscriptions/*/resourcegroups", Fault::Throttle { retry_after_secs: 7 }).times(2))
        .unwrap();
    let r = w.arm.get(&rgs).await;
    assert_eq!((r.status, r.code(), r.header("retry-after")), (429, "TooManyRequests", Some("7")));
    snap("fault_throttled", &r, &w);
    assert_eq!(w.arm.get(&rgs).await.status, 429);
    assert_eq!(w.arm.get(&rgs).await.status, 200, "expires after two calls");

    faults.inject(FaultRule::new("/subscriptions/*", Fault::Status { status: 503 }).method("PUT").times(1)).unwrap();
    assert_eq!(w.arm.get(&rgs).await.status, 200, "method filter");
    let r = w.arm.put(&format!("{rgs}/x"), json!({"location": "westus2"})).await;
    assert_eq!((r.status, r.code()), (503, "ServiceUnavailable"));

    let id = faults.inject(FaultRule::new("/subscriptions/*/resourcegroups", Fault::Latency { millis: 300 })).unwrap();
    let start = Instant::now();
    assert_eq!(w.arm.get(&rgs).await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(faults.remove(id));

    let injected = Instant::now();
    faults
        .inject(FaultRule::new("/subscriptions/*/resourcegroups", Fault::Drop).for_duration(Duration::from_millis(400)))
        .unwrap();
    // A raw request: `Ok(true)` when answered 200 in full, `Ok(false)` for another answer, `Err` when dropped.
    let attempt = || async {
        let resp =
            w.arm.http.get(w.arm.url(&rgs)).bearer_auth(w.arm.token.clone().unwrap()).send().await.map_err(|_| ())?;
        let ok = resp.status() == 200;
        resp.bytes().await.map(|_| ok).map_err(|_| ())
    };
    assert!(attempt().await.is_err(), "a dropped connection must surface as a client error");
    // Wait until the rule expires; the first answer must not come before its duration.
    let recovered = loop {
        if attempt().await == Ok(true) {
            break injected.elapsed();
        }
        assert!(injected.elapsed() < Duration::from_secs(10), "the drop rule never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(recovered >= Duration::from_millis(400), "expired after {recovered:?}, before its 400 ms");
}

#[tokio::test]
async fn admin_endpoint_manages_faults_and_is_never_faulted() {
    let w = world().await;
    let admin = w.arm.with_token(None);
    faults_everywhere(&admin).await;
    let listed = admin.get("/admin/faults").await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    let r = w.arm.get("/tenants").await;
    assert_eq!(r.status, 500);
    let bad = admin.post_json("/admin/faults", json!({"route": "*", "fault": {"kind": "status", "status": 200}})).await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidFaultRule"));
    assert_eq!(admin.delete("/admin/faults").await.status, 204);
    assert_eq!(w.arm.get("/tenants").await.status, 200);
}

async fn faults_everywhere(admin: &Arm) {
    let r = admin
        .post_json("/admin/faults", json!({"route": "*", "fault": {"kind": "status", "status": 500}, "calls": 5}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}
