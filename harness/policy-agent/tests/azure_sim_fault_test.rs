//! Issue 5 fault test against the real azure-sim: while it injects 429s, 503s, latency and dropped
//! connections on the dataplane routes, 50 audit cycles run over a changing (stub) webhook scan.
//! Afterwards the reports azure-sim holds for the cluster match the reports the agent generated,
//! cycle by cycle: 0 lost, 0 duplicated.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use azure_sim::{AzureSim, Fault, FaultRule, NoopAddonController, SimConfig};
use policy_agent::audit_cycle::AuditCycle;
use policy_agent::backoff::RetryPolicy;
use policy_agent::compliance_report::Report;
use policy_agent::dataplane_client::DataplaneClient;
use policy_agent::http_client;
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::RefreshState;
use policy_agent::reporting::Reporter;
use policy_agent::token::TokenSource;
use policy_agent::webhook_client::WebhookClient;
use serde_json::json;
use support::init;

const CYCLES: u64 = 50;
const PRIVILEGE: &str = "7ce7ac02-a5c6-45d6-8d1b-844feb1c1531";
const LIMITS: &str = "a2d3ed81-8d11-4079-80a5-1faadc0024f4";

/// Minimal ARM calls to get a cluster with the add-on and two assignments.
struct Arm {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Arm {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}{sep}api-version=2019-10-01", self.base) };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let async_op = resp.headers().get("azure-asyncoperation").and_then(|v| v.to_str().ok()).map(String::from);
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        if let Some(op) = async_op {
            for _ in 0..100 {
                let r: serde_json::Value = self.http.get(&op).bearer_auth(&self.token).send().await.unwrap().json().await.unwrap();
                if r["status"] != "InProgress" {
                    assert_eq!(r["status"], "Succeeded", "{r}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        (status, body)
    }
}

#[tokio::test]
async fn fifty_audit_cycles_against_azure_sim_faults_lose_and_duplicate_nothing() {
    init();
    let sim = AzureSim::start(SimConfig { auto_approve_features: true, ..SimConfig::default() }, Arc::new(NoopAddonController)).await.unwrap();
    let creds = sim.new_subscription("policy-agent fault test");
    let sub = creds.subscription_id.clone();
    let ca = sim.ca_path().map(|p| p.to_path_buf());
    let arm_http = http_client::build(ca.as_deref(), Duration::from_secs(10), true).unwrap();
    let arm = Arm { http: arm_http, base: sim.arm_url().trim_end_matches('/').to_string(), token: sim.token_for(&sub).unwrap() };
    use reqwest::Method;
    for (ns, f) in [("Microsoft.ContainerService", "AKS-AzurePolicyAutoApprove"), ("Microsoft.PolicyInsights", "AKS-DataplaneAutoApprove")] {
        let (s, b) = arm.call(Method::POST, &format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features/{f}/register"), None).await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = arm.call(Method::POST, &format!("/subscriptions/{sub}/providers/{ns}/register"), None).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = arm.call(Method::PUT, &format!("/subscriptions/{sub}/resourcegroups/rg"), Some(json!({"location": "westus2"}))).await;
    assert!(s < 300, "{b}");
    let cluster_id = format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c");
    let (s, b) = arm.call(Method::PUT, &cluster_id, Some(json!({"location": "westus2", "properties": {
        "kubernetesVersion": "1.14.8", "addonProfiles": {"azurepolicy": {"enabled": true}}}}))).await;
    assert!(s < 300, "{b}");
    let mut ids = Vec::new();
    for (name, guid) in [("no-privileged", PRIVILEGE), ("limits", LIMITS)] {
        let (s, b) = arm.call(Method::PUT, &format!("/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/{name}"),
            Some(json!({"properties": {"policyDefinitionId": format!("/providers/Microsoft.Authorization/policyDefinitions/{guid}")}}))).await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["id"].as_str().unwrap().to_string());
    }

    let wh = wiremock::MockServer::start().await;
    support::stub_webhook::mount_changing(&wh, ids.clone(), None).await;
    // One connection per request, 1 s timeout (the injected latency is longer).
    let http = http_client::build(ca.as_deref(), Duration::from_secs(1), false).unwrap();
    let retry = RetryPolicy::new(4, Duration::from_millis(20), Duration::from_secs(2));
    let token = Arc::new(TokenSource::new(http.clone(), sim.arm_url(), &creds.client_id, &creds.client_secret, retry));
    let dp = Arc::new(DataplaneClient::new(http.clone(), sim.arm_url(), &cluster_id, token, retry));
    let metrics = Arc::new(Metrics::default());
    let reporter = Reporter::new(dp.clone(), retry, 64, metrics.clone());
    let webhook = WebhookClient::new(http_client::build(None, Duration::from_secs(3), true).unwrap(), &wh.uri(), retry);
    let audit = AuditCycle::new(dp, webhook, Arc::new(RefreshState::default()), reporter, metrics.clone()).with_history();

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
    let held: Vec<Report> = sim.reports(&cluster_id).into_iter()
        .map(|r| serde_json::from_value(serde_json::to_value(r).unwrap()).unwrap())
        .collect();
    let mut per_cycle: HashMap<u64, Vec<&Report>> = HashMap::new();
    for r in &held {
        per_cycle.entry(r.cycle).or_default().push(r);
    }
    let same = |g: &Report, h: &Report| g.report_id == h.report_id && g.assignments == h.assignments && g.cluster_id.eq_ignore_ascii_case(&h.cluster_id);
    let lost = generated.iter().filter(|g| !per_cycle.get(&g.cycle).is_some_and(|v| v.iter().any(|h| same(g, h)))).count();
    let duplicated: usize = per_cycle.values().map(|v| v.len().saturating_sub(1)).sum();
    println!("fault-test: cycles={} lost={lost} duplicated={duplicated}", generated.len());
    println!("fault-test details (azure-sim): cycles whose report waited for a later cycle={failed} report attempts={} acked-as-duplicate={}",
        metrics.report_attempts.load(std::sync::atomic::Ordering::Relaxed),
        metrics.reports_acked_as_duplicate.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(generated.len() as u64, CYCLES);
    assert_eq!(held.len() as u64, CYCLES);
    assert_eq!((lost, duplicated), (0, 0));
    sim.shutdown().await;
}
