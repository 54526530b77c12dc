//! Issue 5 fault test against the real azure-sim: while it injects 429s, 503s, latency and dropped
//! connections on the dataplane routes, 50 audit cycles run over a changing (stub) webhook scan.
//! Afterwards the reports azure-sim holds for the cluster match the reports the agent generated,
//! cycle by cycle: 0 lost, 0 duplicated.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use azure_sim::{Fault, FaultRule};
use contracts::dataplane::ComplianceReport;
use policy_agent::audit_cycle::AuditCycle;
use policy_agent::backoff::RetryPolicy;
use policy_agent::http_client;
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::RefreshState;
use policy_agent::reporting::Reporter;
use policy_agent::webhook_client::WebhookClient;
use support::azure_world::{AzureWorld, LIMITS, PRIVILEGE};
use support::init;

const CYCLES: u64 = 50;

#[tokio::test]
async fn fifty_audit_cycles_against_azure_sim_faults_lose_and_duplicate_nothing() {
    init();
    let w = AzureWorld::start().await;
    let ids = vec![w.assign("no-privileged", PRIVILEGE).await, w.assign("limits", LIMITS).await];
    let (sim, cluster_id) = (&w.sim, w.cluster_id.clone());
    let wh = wiremock::MockServer::start().await;
    support::stub_webhook::mount_changing(&wh, ids.clone(), None).await;
    // One connection per request, 1 s timeout (the injected latency is longer).
    let retry = RetryPolicy::new(4, Duration::from_millis(20), Duration::from_secs(2));
    let dp = w.dataplane(Duration::from_secs(1), false, retry);
    let metrics = Arc::new(Metrics::default());
    let reporter = Reporter::new(dp.clone(), retry, 64, metrics.clone());
    let webhook = WebhookClient::new(http_client::build(None, Duration::from_secs(3), true).unwrap(), &wh.uri(), retry);
    let audit =
        AuditCycle::new(dp, webhook, Arc::new(RefreshState::default()), reporter, metrics.clone()).with_history();

    let faults = sim.faults();
    let mut failed = 0;
    for cycle in 1..=CYCLES {
        // A new burst of faults every cycle, rotating through the kinds, on both dataplane routes.
        let rule = match cycle % 5 {
            0 => FaultRule::new("/dataplane/v1/reports", Fault::Throttle { retry_after_secs: 1 }).times(1),
            1 => FaultRule::new("/dataplane/v1/reports", Fault::Status { status: 503 }).times(2),
            2 => FaultRule::new("/dataplane/v1/*", Fault::Drop).times(2),
            3 => FaultRule::new("/dataplane/v1/reports", Fault::Latency { millis: 1500 }).times(1),
            _ => FaultRule::new("/dataplane/v1/assignments", Fault::Status { status: 500 }).times(1),
        };
        faults.inject(rule).unwrap();
        if audit.audit(cycle).await.is_err() {
            failed += 1;
        }
    }
    faults.clear();
    let tail = audit.flush().await;
    assert_eq!(tail.pending, 0, "{tail:?}");

    let generated = audit.generated();
    let held: Vec<ComplianceReport> = sim.reports(&cluster_id);
    let mut per_cycle: HashMap<u64, Vec<&ComplianceReport>> = HashMap::new();
    for r in &held {
        per_cycle.entry(r.cycle).or_default().push(r);
    }
    let same = |g: &ComplianceReport, h: &ComplianceReport| {
        g.report_id == h.report_id && g.assignments == h.assignments && g.cluster_id.eq_ignore_ascii_case(&h.cluster_id)
    };
    let lost =
        generated.iter().filter(|g| !per_cycle.get(&g.cycle).is_some_and(|v| v.iter().any(|h| same(g, h)))).count();
    let duplicated: usize = per_cycle.values().map(|v| v.len().saturating_sub(1)).sum();
    println!("fault-test: cycles={} lost={lost} duplicated={duplicated}", generated.len());
    println!(
        "fault-test details (azure-sim): cycles whose report waited for a later cycle={failed} report attempts={} acked-as-duplicate={}",
        metrics.report_attempts.load(std::sync::atomic::Ordering::Relaxed),
        metrics.reports_acked_as_duplicate.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(generated.len() as u64, CYCLES);
    assert_eq!(held.len() as u64, CYCLES);
    assert_eq!((lost, duplicated), (0, 0));
}
