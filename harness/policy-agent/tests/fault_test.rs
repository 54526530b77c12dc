//! Issue 5 fault test, wiremock variant: a stateful dataplane that dedups by `Idempotency-Key`,
//! behind faults (429 + Retry-After, 503 before and after committing, latency past the client
//! timeout, connections dropped before and after the server handled the request), 50 audit cycles
//! over a changing webhook scan. Every generated report must be held exactly once.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts::dataplane::ComplianceReport;
use policy_agent::audit_cycle::AuditCycle;
use policy_agent::http_client;
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::RefreshState;
use policy_agent::reporting::Reporter;
use policy_agent::webhook_client::WebhookClient;
use support::flaky_proxy::{Action, FlakyProxy};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CYCLES: u64 = 50;

/// The dataplane's report store: accepts each reportId once, and injects a fault on chosen requests.
struct FaultyReports {
    held: Arc<Mutex<Vec<ComplianceReport>>>,
    requests: AtomicU64,
}

impl Respond for FaultyReports {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        // A fixed pattern (not random) so a failure is reproducible.
        match n % 11 {
            1 => return ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            4 => return ResponseTemplate::new(503),
            _ => {}
        }
        let report: ComplianceReport = req.body_json().expect("report body");
        let key = req.headers.get("Idempotency-Key").unwrap().to_str().unwrap().to_string();
        assert_eq!(key, report.report_id, "Idempotency-Key must equal reportId");
        let mut held = self.held.lock().unwrap();
        let duplicate = held.iter().any(|r| r.report_id == report.report_id);
        if !duplicate {
            held.push(report);
        }
        let ok = ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"reportId": key, "accepted": true, "duplicate": duplicate}));
        match n % 11 {
            7 => ResponseTemplate::new(503), // committed, but the answer is an error
            9 if n % 22 == 9 => ok.set_delay(Duration::from_millis(1500)), // committed, answer after the client timeout
            _ => ok,
        }
    }
}

#[tokio::test]
async fn fifty_audit_cycles_under_faults_lose_and_duplicate_nothing() {
    init();
    let dp_server = MockServer::start().await;
    mount_token(&dp_server, 1).await;
    let a1 = "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/a1".to_string();
    let a2 = "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/a2".to_string();
    Mock::given(method("GET"))
        .and(path("/dataplane/v1/assignments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "assignments": [assignment_json("a1", "http://x"), assignment_json("a2", "http://x")]})))
        .mount(&dp_server)
        .await;
    let held = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(FaultyReports { held: held.clone(), requests: AtomicU64::new(0) })
        .mount(&dp_server)
        .await;
    let proxy = FlakyProxy::start(*dp_server.address()).await;
    let wh = MockServer::start().await;
    support::stub_webhook::mount_changing(&wh, vec![a1, a2], None).await;

    // One connection per request so proxy faults hit individual calls; 1 s timeout < 1.5 s latency.
    let http = http_client::build(None, Duration::from_secs(1), false).unwrap();
    let retry = policy_agent::backoff::RetryPolicy::new(4, Duration::from_millis(20), Duration::from_secs(2));
    let token = Arc::new(policy_agent::token::TokenSource::new(http.clone(), &dp_server.uri(), "cid", "s", retry));
    let dp = Arc::new(policy_agent::dataplane_client::DataplaneClient::new(
        http.clone(),
        &proxy.uri(),
        CLUSTER,
        token,
        retry,
    ));
    let metrics = Arc::new(Metrics::default());
    let reporter = Reporter::new(dp.clone(), retry, 64, metrics.clone());
    let webhook = WebhookClient::new(http, &wh.uri(), retry);
    let audit =
        AuditCycle::new(dp, webhook, Arc::new(RefreshState::default()), reporter, metrics.clone()).with_history();

    let mut failed_cycles = 0;
    for cycle in 1..=CYCLES {
        // Every fifth connection is dropped: alternately before and after the server saw it.
        let drop = if cycle % 2 == 0 { Action::DropAfterForward } else { Action::DropBeforeForward };
        proxy.push(&[Action::Forward, Action::Forward, Action::Forward, Action::Forward, drop]);
        if audit.audit(cycle).await.is_err() {
            failed_cycles += 1;
        }
    }
    // Faults stop: one last flush delivers whatever is still queued.
    proxy.clear();
    let tail = audit.flush().await;
    assert_eq!(tail.pending, 0, "{tail:?}");

    let generated = audit.generated();
    let held = held.lock().unwrap().clone();
    let (lost, duplicated) = compare(&generated, &held);
    println!("fault-test: cycles={} lost={lost} duplicated={duplicated}", generated.len());
    println!(
        "fault-test details (wiremock dataplane): cycles not acknowledged in their own cycle={failed_cycles} report attempts={} acked-as-duplicate={}",
        metrics.report_attempts.load(Ordering::Relaxed),
        metrics.reports_acked_as_duplicate.load(Ordering::Relaxed)
    );
    assert_eq!(generated.len() as u64, CYCLES);
    assert_eq!((lost, duplicated), (0, 0));
    assert!(
        metrics.reports_acked_as_duplicate.load(Ordering::Relaxed) > 0,
        "the faults must include lost acknowledgements"
    );
}

/// `lost`: generated reports the dataplane does not hold (or holds with other content);
/// `duplicated`: extra reports held for the same cycle.
pub fn compare(generated: &[ComplianceReport], held: &[ComplianceReport]) -> (usize, usize) {
    let mut per_cycle: HashMap<u64, Vec<&ComplianceReport>> = HashMap::new();
    for r in held {
        per_cycle.entry(r.cycle).or_default().push(r);
    }
    let lost = generated.iter().filter(|g| !per_cycle.get(&g.cycle).is_some_and(|v| v.contains(g))).count();
    let duplicated = per_cycle.values().map(|v| v.len().saturating_sub(1)).sum();
    (lost, duplicated)
}
