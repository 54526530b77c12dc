//! Figures, printed (not asserted on time): the agent binary's peak RSS and the
//! duration of one audit cycle over 1,000 violating objects, plus an end-to-end check of the binary's
//! HTTP surface (triggers, /status, /metrics, the completion log line).

mod support;

use std::time::Instant;

use contracts::agent::Cycle;
use support::agent_process::{AgentProcess, dummy_kubeconfig};
use support::fake_dataplane::{FakeDataplane, assignment_id};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

#[tokio::test]
async fn rss_and_audit_cycle_duration_on_1000_objects() {
    init();
    let dp = FakeDataplane::start().await;
    dp.set_assignments(&["a1", "a2"]);
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(|r: &Request| {
            let body: serde_json::Value = r.body_json().unwrap();
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"reportId": body["reportId"], "accepted": true, "duplicate": false}))
        })
        .mount(&dp.server)
        .await;
    let wh = MockServer::start().await;
    support::stub_webhook::mount_changing(&wh, vec![assignment_id("a1"), assignment_id("a2")], Some(1000)).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dummy_kubeconfig(dir.path());
    let agent = AgentProcess::spawn(dir.path(), &dp.uri(), &wh.uri(), &kubeconfig, "azure-policy", &[]).await;

    assert_eq!(agent.get("/healthz").await, "ok");
    let mut durations = Vec::new();
    let mut last = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let outcome = agent.trigger(Cycle::Audit).await;
        durations.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(outcome.ok, "{outcome:?}");
        assert_eq!(outcome.cycle, last + 1, "each trigger runs exactly one new cycle");
        last = outcome.cycle;
    }
    durations.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let reports = dp
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/dataplane/v1/reports")
        .count();
    assert_eq!(reports, 5);
    let status: serde_json::Value = serde_json::from_str(&agent.get("/status").await).unwrap();
    assert_eq!(status["audit"]["cycles"], 5);
    assert_eq!(status["reports"]["acked"], 5);
    let metrics = agent.get("/metrics").await;
    assert!(metrics.contains("policy_agent_cycles_total{kind=\"audit\",result=\"ok\"} 5"), "{metrics}");
    // The refresh at start-up cannot reach Kubernetes here: it fails, visibly.
    assert!(metrics.contains("policy_agent_cycles_total{kind=\"refresh\",result=\"error\"} 1"), "{metrics}");
    assert!(
        agent.log_text().contains("audit cycle completed cycle=5 assignments=2 noncompliant=1 violations=1001"),
        "{}",
        agent.log_text()
    );
    println!(
        "audit-cycle: objects=1000 median_ms={:.1} min_ms={:.1} max_ms={:.1} (trigger round-trip incl. scan fetch, report build, POST + ack; debug build)",
        durations[2], durations[0], durations[4]
    );
    println!("rss: policy-agent VmHWM={} KiB after 5 audit cycles on 1000 objects (debug build)", agent.peak_rss_kib());
}
