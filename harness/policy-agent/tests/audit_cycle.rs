//! The audit cycle against wiremock stand-ins for the webhook and the dataplane: mapping, report
//! shape, and the denials cursor advancing only after an acknowledgement.

mod support;

use std::sync::Arc;

use contracts::dataplane::{ComplianceReport, ComplianceState, ViolationSource};
use policy_agent::audit_cycle::{AuditCycle, AuditCycleError};
use policy_agent::http_client;
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::RefreshState;
use policy_agent::reporting::Reporter;
use policy_agent::webhook_client::WebhookClient;
use support::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const A1: &str = "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/a1";

async fn webhook() -> MockServer {
    let wh = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/audit"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "message": "total violations:1",
            "violations": [{"id": A1, "resource": {"kind": "pods", "namespace": "team-a", "name": "web-1"},
                            "resolution": {"message": "privileged"}}]})))
        .mount(&wh)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/denials"))
        .and(query_param("since", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next": 5,
            "denials": [{"seq": 4, "time": "2019-06-01T00:00:00Z", "uid": "u", "operation": "CREATE",
                         "resource": {"kind": "pods", "namespace": "team-a", "name": "web-2"},
                         "violations": [{"id": A1, "message": "denied web-2"}]}]})))
        .mount(&wh)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/denials"))
        .and(query_param("since", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"next": 5, "denials": []})))
        .mount(&wh)
        .await;
    wh
}

#[tokio::test]
async fn cursor_advances_only_after_the_report_is_acknowledged() {
    init();
    let dp_server = MockServer::start().await;
    mount_token(&dp_server, 1).await;
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"assignments": [assignment_json("a1", "http://x")]})),
        )
        .mount(&dp_server)
        .await;
    let outage = Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&dp_server)
        .await;
    let wh = webhook().await;

    let dp = client(&dp_server.uri(), &dp_server.uri(), quick_retry(2));
    let metrics = Arc::new(Metrics::default());
    let reporter = Reporter::new(dp.clone(), quick_retry(2), 8, metrics.clone());
    let webhook_client = WebhookClient::new(
        http_client::build(None, std::time::Duration::from_secs(3), true).unwrap(),
        &wh.uri(),
        quick_retry(2),
    );
    let cycle =
        AuditCycle::new(dp, webhook_client, Arc::new(RefreshState::default()), reporter, metrics).with_history();

    let err = cycle.audit(1).await.unwrap_err();
    assert!(matches!(err, AuditCycleError::NotAcknowledged { pending: 1, .. }), "{err}");
    drop(outage);
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(|r: &Request| {
            let body: serde_json::Value = r.body_json().unwrap();
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"reportId": body["reportId"], "accepted": true, "duplicate": false}))
        })
        .mount(&dp_server)
        .await;
    let (second, flushed) = cycle.audit(2).await.unwrap();
    assert_eq!(flushed.acked.len(), 2, "the queued cycle-1 report goes first");
    cycle.audit(3).await.unwrap();

    let since: Vec<String> = wh
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/denials")
        .map(|r| r.url.query_pairs().find(|(k, _)| k == "since").unwrap().1.to_string())
        .collect();
    assert_eq!(since, ["0", "0", "5"], "denials re-read until a report carrying them is acknowledged");

    let a = &second.assignments[0];
    assert_eq!(a.assignment_id, A1);
    assert_eq!(a.compliance_state, ComplianceState::NonCompliant);
    let names: Vec<(&str, ViolationSource)> = a.violations.iter().map(|v| (v.name.as_str(), v.source)).collect();
    assert_eq!(names, [("web-1", ViolationSource::Audit), ("web-2", ViolationSource::Admission)]);

    let posted: Vec<ComplianceReport> = dp_server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/dataplane/v1/reports" && r.method.as_str() == "POST")
        .map(|r| r.body_json().unwrap())
        .collect();
    let generated = cycle.generated();
    assert_eq!(generated.len(), 3);
    let acked_cycles: Vec<u64> = posted.iter().rev().take(3).rev().map(|r| r.cycle).collect();
    assert_eq!(acked_cycles, [1, 2, 3], "acknowledged in generation order");
}
