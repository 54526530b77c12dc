//! A figure, printed: time from an assignment PUT in azure-sim to its ConfigMap in the
//! cluster, with the on-demand trigger and with a 2 s refresh interval (printed, not asserted on
//! time). Enforcement adds the webhook's ConfigMap load on top; that part is measured by the harness.
#![cfg(feature = "engine")]

mod support;

use std::time::{Duration, Instant};

use contracts::agent::Cycle;
use policy_agent::configmap_cache::configmap_name;
use support::agent_process::AgentProcess;
use support::azure_world::{AzureWorld, PRIVILEGE};
use support::{init, policy_configmap_names, test_namespace};

async fn wait_for(api: &kube::Api<k8s_openapi::api::core::v1::ConfigMap>, name: &str) {
    for _ in 0..2000 {
        if policy_configmap_names(api).await.iter().any(|n| n == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} never appeared");
}

#[tokio::test]
async fn assignment_put_to_configmap_with_trigger_and_with_a_2s_interval() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let w = AzureWorld::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = w.ca.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();
    let env = |interval: &'static str| {
        vec![
            ("DATAPLANE_CA_FILE", ca.clone()),
            ("REFRESH_INTERVAL", interval.to_string()),
            ("RESOURCE_ID", w.cluster_id.clone()),
            ("AZURE_CLIENT_ID", w.creds.client_id.clone()),
            ("AZURE_CLIENT_SECRET", w.creds.client_secret.clone()),
        ]
    };

    for (label, interval, ns) in [("trigger", "1h", "pa-prop-trigger"), ("interval 2s", "2s", "pa-prop-interval")] {
        let api = test_namespace(&cluster.client(), ns).await;
        let env = env(interval);
        let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let agent =
            AgentProcess::spawn(dir.path(), w.sim.arm_url(), "http://127.0.0.1:9", &kubeconfig, ns, &env_refs).await;
        assert!(agent.trigger(Cycle::Refresh).await.ok, "{}", agent.log_text());
        let name = format!("p-{}", ns);
        let started = Instant::now();
        let id = w.assign(&name, PRIVILEGE).await;
        if interval == "1h" {
            assert!(agent.trigger(Cycle::Refresh).await.ok);
        }
        wait_for(&api, &configmap_name(&name, &id)).await;
        println!("propagation ({label}): assignment PUT -> ConfigMap in {} ms", started.elapsed().as_millis());
        w.unassign(&name).await;
    }
}
