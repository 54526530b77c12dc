//! The refresh and audit cycles end to end against the real azure-sim (assignments, built-in Rego,
//! reports) and the real local cluster, with policy-engine's placeholder filler.
#![cfg(feature = "engine")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use azure_sim::{Fault, FaultRule};
use contracts::dataplane::ComplianceState;
use policy_agent::audit_cycle::AuditCycle;
use policy_agent::backoff::RetryPolicy;
use policy_agent::configmap_cache::{ConfigMapStore, DATA_KEY, configmap_name};
use policy_agent::http_client;
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::{RefreshCycle, RefreshState, policy_engine_filler};
use policy_agent::reporting::Reporter;
use policy_agent::webhook_client::WebhookClient;
use support::azure_world::{AzureWorld, PRIVILEGE};
use support::{init, policy_configmap_names, test_namespace};

const NS: &str = "pa-azure-sim";

#[tokio::test]
async fn assignment_lifecycle_and_failed_download_against_azure_sim_and_the_cluster() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let client = cluster.client();
    let api = test_namespace(&client, NS).await;
    let w = AzureWorld::start().await;
    let retry = RetryPolicy::new(3, Duration::from_millis(20), Duration::from_secs(1));
    let dp = w.dataplane(Duration::from_secs(5), true, retry);
    let state = Arc::new(RefreshState::default());
    let metrics = Arc::new(Metrics::default());
    let refresh = RefreshCycle::new(
        dp.clone(),
        ConfigMapStore::new(client.clone(), NS),
        policy_engine_filler(),
        state.clone(),
        metrics.clone(),
    );

    // An assignment appears as a ConfigMap after one cycle, with the assignment id filled in.
    let id = w.assign("no-privileged", PRIVILEGE).await;
    let out = refresh.refresh().await.unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let name = configmap_name("no-privileged", &id);
    assert_eq!(policy_configmap_names(&api).await, std::slice::from_ref(&name));
    let rego = api.get(&name).await.unwrap().data.unwrap()[DATA_KEY].clone();
    assert!(rego.contains(&id) && !rego.contains("{{AzurePolicyID}}"), "{rego}");

    // A failed Rego download keeps the last good policy and is reported to azure-sim.
    w.sim.faults().inject(FaultRule::new("/policies/*", Fault::Status { status: 500 })).unwrap();
    let out = refresh.refresh().await.unwrap();
    assert_eq!(out.errors.len(), 1);
    assert_eq!(api.get(&name).await.unwrap().data.unwrap()[DATA_KEY], rego);
    let wh = wiremock::MockServer::start().await;
    support::stub_webhook::mount_changing(&wh, vec![id.clone()], Some(2)).await;
    let webhook = WebhookClient::new(http_client::build(None, Duration::from_secs(3), true).unwrap(), &wh.uri(), retry);
    let reporter = Reporter::new(dp.clone(), retry, 8, metrics.clone());
    let audit = AuditCycle::new(dp, webhook, state, reporter, metrics);
    audit.audit(1).await.unwrap();
    let held = w.sim.reports(&w.cluster_id);
    let last = held.last().unwrap();
    assert_eq!(last.refresh_errors[0].assignment_id, id, "{last:?}");
    assert_eq!(last.assignments[0].compliance_state, ComplianceState::NonCompliant);
    w.sim.faults().clear();

    // Deleting the assignment removes the ConfigMap in one cycle.
    w.unassign("no-privileged").await;
    refresh.refresh().await.unwrap();
    assert!(policy_configmap_names(&api).await.is_empty());
}
