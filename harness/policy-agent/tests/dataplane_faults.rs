//! The dataplane client and reporter against wiremock: token caching, 429 + Retry-After, 503,
//! dropped connections, idempotent resends, the bounded queue.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts::dataplane::ComplianceReport;
use policy_agent::metrics::Metrics;
use policy_agent::reporting::Reporter;
use support::flaky_proxy::{Action, FlakyProxy};
use support::*;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn report(cycle: u64) -> ComplianceReport {
    ComplianceReport {
        report_id: uuid::Uuid::new_v4().to_string(),
        cluster_id: CLUSTER.into(),
        cycle,
        generated_at: "2019-06-01T00:00:00Z".parse().unwrap(),
        assignments: vec![],
        refresh_errors: vec![],
        constraint_assignments: vec![],
    }
}

async fn mount_ack(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(|req: &Request| {
            let key = req.headers.get("Idempotency-Key").unwrap().to_str().unwrap().to_string();
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"reportId": key, "accepted": true, "duplicate": false}))
        })
        .named("reports")
        .mount(server)
        .await;
}

async fn report_posts(server: &MockServer) -> Vec<(String, ComplianceReport)> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/dataplane/v1/reports")
        .map(|r| (r.headers.get("Idempotency-Key").unwrap().to_str().unwrap().to_string(), r.body_json().unwrap()))
        .collect()
}

#[tokio::test]
async fn token_is_fetched_once_and_reused() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .and(query_param("clusterId", CLUSTER))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "clusterId": CLUSTER, "assignments": [assignment_json("a1", "http://x/p.rego")]})))
        .expect(3)
        .mount(&server)
        .await;
    let dp = client(&server.uri(), &server.uri(), quick_retry(3));
    for _ in 0..3 {
        assert_eq!(dp.assignments().await.unwrap()[0].assignment_name, "a1");
    }
    server.verify().await;
}

#[tokio::test]
async fn unauthorized_refreshes_the_token_once() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"assignments": []})))
        .mount(&server)
        .await;
    let dp = client(&server.uri(), &server.uri(), quick_retry(3));
    assert!(dp.assignments().await.unwrap().is_empty());
    server.verify().await;
}

#[tokio::test]
async fn throttled_report_waits_for_retry_after() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_ack(&server).await;
    let dp = client(&server.uri(), &server.uri(), quick_retry(5));
    let mut reporter = Reporter::new(dp, quick_retry(5), 8, Arc::new(Metrics::default()));
    let r = report(1);
    reporter.enqueue(r.clone(), 0);
    let started = Instant::now();
    let out = reporter.flush().await;
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After ignored: {:?}", started.elapsed());
    assert_eq!(out.acked, vec![r.report_id.clone()]);
    let posts = report_posts(&server).await;
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|(k, body)| *k == r.report_id && *body == r), "resend must reuse reportId");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"assignments": [assignment_json("a2", "http://x")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dp = client(&server.uri(), &server.uri(), quick_retry(4));
    assert_eq!(dp.assignments().await.unwrap().len(), 1);
    server.verify().await;
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(serde_json::json!({"error": {"code": "FeatureNotRegistered", "message": "no"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dp = client(&server.uri(), &server.uri(), quick_retry(4));
    let err = dp.assignments().await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("FeatureNotRegistered"));
    server.verify().await;
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_ack(&server).await;
    let proxy = FlakyProxy::start(*server.address()).await;
    proxy.push(&[Action::DropBeforeForward, Action::DropBeforeForward]);
    let dp = client(&server.uri(), &proxy.uri(), quick_retry(5));
    let mut reporter = Reporter::new(dp, quick_retry(5), 8, Arc::new(Metrics::default()));
    let r = report(1);
    reporter.enqueue(r.clone(), 7);
    let out = reporter.flush().await;
    assert_eq!(out.acked, vec![r.report_id.clone()]);
    assert_eq!(report_posts(&server).await.len(), 1, "the dropped attempts never reached the server");
    assert_eq!(reporter.acked_cursor(), 7);
}

#[tokio::test]
async fn lost_acknowledgement_is_resent_with_the_same_report_id() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_ack(&server).await;
    let proxy = FlakyProxy::start(*server.address()).await;
    proxy.push(&[Action::DropAfterForward]);
    let dp = client(&server.uri(), &proxy.uri(), quick_retry(5));
    let metrics = Arc::new(Metrics::default());
    let mut reporter = Reporter::new(dp, quick_retry(5), 8, metrics.clone());
    let r = report(1);
    reporter.enqueue(r.clone(), 3);
    let out = reporter.flush().await;
    assert_eq!(out.acked, vec![r.report_id.clone()]);
    let posts = report_posts(&server).await;
    assert_eq!(posts.len(), 2, "the server saw the first attempt and the resend");
    assert!(posts.iter().all(|(k, body)| *k == r.report_id && body.report_id == r.report_id));
    assert_eq!(metrics.reports_acked.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn outage_keeps_reports_queued_in_order_and_bounded() {
    init();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(9)
        .mount(&server)
        .await;
    let dp = client(&server.uri(), &server.uri(), quick_retry(2));
    let metrics = Arc::new(Metrics::default());
    let mut reporter = Reporter::new(dp, quick_retry(2), 3, metrics.clone());
    let reports: Vec<ComplianceReport> = (1..=4).map(report).collect();
    for (i, r) in reports.iter().enumerate() {
        reporter.enqueue(r.clone(), i as u64 + 10);
        let out = reporter.flush().await;
        assert!(out.acked.is_empty() && out.error.is_some());
    }
    assert_eq!(reporter.pending(), 3);
    assert_eq!(metrics.reports_dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(reporter.acked_cursor(), 0, "cursor must not move without an acknowledgement");
    mount_ack(&server).await; // priority 5 beats the outage's 9
    let out = reporter.flush().await;
    let expected: Vec<String> = reports[1..].iter().map(|r| r.report_id.clone()).collect();
    assert_eq!(out.acked, expected, "oldest first, the oldest overflowed");
    assert_eq!(reporter.acked_cursor(), 13);
}
