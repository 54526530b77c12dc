//! Issue 5: kill the agent binary (SIGKILL) in the middle of a refresh against the real cluster; the
//! next agent's first cycle converges with no missing and no duplicate ConfigMaps.

mod support;

use std::collections::BTreeSet;

use contracts::agent::Cycle;
use policy_agent::configmap_cache::{DATA_KEY, configmap_name};
use support::agent_process::AgentProcess;
use support::fake_dataplane::{FakeDataplane, assignment_id, rego};
use support::*;

const NS: &str = "pa-restart";

#[tokio::test]
#[cfg_attr(not(feature = "engine"), ignore = "the binary needs the `engine` feature to fill placeholders")]
async fn killed_mid_refresh_the_next_cycle_converges() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let client = cluster.client();
    let api = test_namespace(&client, NS).await;
    let dp = FakeDataplane::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();

    let mut interrupted = false;
    let mut expected = BTreeSet::new();
    for attempt in 0..5u32 {
        // Each attempt shifts the assignment set, so the refresh must delete and create.
        let set: Vec<String> = (attempt * 20..attempt * 20 + 40).map(|i| format!("a{i}")).collect();
        let prev: Vec<String> = if attempt == 0 {
            Vec::new()
        } else {
            ((attempt - 1) * 20..(attempt - 1) * 20 + 40).map(|i| format!("a{i}")).collect()
        };
        let prev_refs: Vec<&str> = prev.iter().map(String::as_str).collect();
        let refs: Vec<&str> = set.iter().map(String::as_str).collect();
        dp.set_assignments(if prev.is_empty() { &refs } else { &prev_refs });
        let mut agent = AgentProcess::spawn(dir.path(), &dp.uri(), "http://127.0.0.1:9", &kubeconfig, NS, &[]).await;
        assert!(agent.trigger(Cycle::Refresh).await.ok, "{}", agent.log_text());
        let settled = policy_configmap_names(&api).await.len();
        assert_eq!(settled, 40);

        let old: BTreeSet<String> = policy_configmap_names(&api).await.into_iter().collect();
        dp.set_assignments(&refs);
        expected = refs.iter().map(|n| configmap_name(n, &assignment_id(n))).collect();
        let base = agent.base.clone();
        tokio::spawn(async move {
            let _ = reqwest::Client::new().post(format!("{base}/trigger/refresh")).send().await;
        });
        // Kill as soon as the namespace is visibly half-way (some deleted, not all recreated).
        for _ in 0..2000 {
            let now: BTreeSet<String> = policy_configmap_names(&api).await.into_iter().collect();
            if now != old && now != expected {
                agent.kill();
                let after_kill: BTreeSet<String> = policy_configmap_names(&api).await.into_iter().collect();
                interrupted = after_kill != expected;
                println!(
                    "killed mid-refresh on attempt {attempt}: {} ConfigMaps present, {} of the new set (then {} after the kill)",
                    now.len(),
                    now.intersection(&expected).count(),
                    after_kill.len()
                );
                break;
            }
            if now == expected {
                break;
            }
        }
        agent.kill();
        if interrupted {
            break;
        }
    }
    assert!(interrupted, "never caught the agent mid-refresh");

    let restarted = AgentProcess::spawn(dir.path(), &dp.uri(), "http://127.0.0.1:9", &kubeconfig, NS, &[]).await;
    let outcome = restarted.trigger(Cycle::Refresh).await;
    assert!(outcome.ok, "{outcome:?}");
    let after = policy_configmap_names(&api).await;
    let unique: BTreeSet<String> = after.iter().cloned().collect();
    assert_eq!(after.len(), unique.len(), "no duplicates");
    assert_eq!(unique, expected, "no missing, no extra ConfigMaps");
    for name in &expected {
        let cm = api.get(name).await.unwrap();
        let data = cm.data.unwrap();
        assert!(data[DATA_KEY].starts_with(&rego("x", 1)[..20]), "policy content present in {name}");
    }
    assert!(restarted.log_text().contains("refresh cycle completed cycle="));
}
