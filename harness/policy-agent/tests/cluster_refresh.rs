//! The refresh cycle against the real local kube-apiserver (`cluster::shared()`) and a stateful
//! dataplane stand-in. Each test works in its own namespace.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use policy_agent::configmap_cache::{
    ANNOTATION_ASSIGNMENT, ANNOTATION_DEFINITION, ConfigMapStore, DATA_KEY, configmap_name,
};
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::{FillFn, RefreshCycle, RefreshState};
use support::fake_dataplane::{FakeDataplane, assignment_id, rego};
use support::*;

/// Test filler: the textual `{{AzurePolicyID}}` substitution (policy-engine's own tests cover the rest).
fn filler() -> FillFn {
    Arc::new(|rego, id, _| Ok(rego.replace("{{AzurePolicyID}}", id)))
}

fn refresh_cycle(
    dp: &FakeDataplane,
    client: &kube::Client,
    ns: &str,
) -> (RefreshCycle, Arc<RefreshState>, Arc<Metrics>) {
    let state = Arc::new(RefreshState::default());
    let metrics = Arc::new(Metrics::default());
    let store = ConfigMapStore::new(client.clone(), ns);
    let cycle = RefreshCycle::new(client_for(dp), store, filler(), state.clone(), metrics.clone());
    (cycle, state, metrics)
}

fn client_for(dp: &FakeDataplane) -> Arc<policy_agent::dataplane_client::DataplaneClient> {
    client(&dp.uri(), &dp.uri(), quick_retry(2))
}

/// Policy ConfigMaps by name → Rego (the control plane's `kube-root-ca.crt` is left out).
async fn policies(api: &Api<ConfigMap>) -> BTreeMap<String, String> {
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|cm| cm.metadata.name.as_deref().is_some_and(contracts::policy_configmaps::is_policy))
        .map(|cm| {
            (cm.metadata.name.clone().unwrap(), cm.data.unwrap_or_default().get(DATA_KEY).cloned().unwrap_or_default())
        })
        .collect()
}

fn filled(name: &str, version: u32) -> String {
    rego(name, version).replace("{{AzurePolicyID}}", &assignment_id(name))
}

#[tokio::test]
async fn assignments_become_configmaps_and_the_namespace_is_reset_each_cycle() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let client = cluster.client();
    let api = test_namespace(&client, "pa-refresh-basic").await;
    let dp = FakeDataplane::start().await;
    dp.set_assignments(&["a1", "My_Policy.2"]);
    let (cycle, _, metrics) = refresh_cycle(&dp, &client, "pa-refresh-basic");

    let out = cycle.refresh().await.unwrap();
    assert_eq!(out.configmaps, 2);
    let n1 = configmap_name("a1", &assignment_id("a1"));
    let n2 = configmap_name("My_Policy.2", &assignment_id("My_Policy.2"));
    assert!(n2.starts_with("azurepolicy-my-policy-2-"));
    assert_eq!(
        policies(&api).await,
        BTreeMap::from([(n1.clone(), filled("a1", 1)), (n2.clone(), filled("My_Policy.2", 1))])
    );
    let cm = api.get(&n1).await.unwrap();
    let labels = cm.metadata.labels.unwrap();
    assert_eq!(labels["openpolicyagent.org/policy"], "rego");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "azure-policy-addon");
    let ann = cm.metadata.annotations.unwrap();
    assert_eq!(ann[ANNOTATION_ASSIGNMENT], assignment_id("a1"));
    assert!(ann[ANNOTATION_DEFINITION].ends_with("7ce7ac02-a5c6-45d6-8d1b-844feb1c1531"));

    // A hand edit and an extra ConfigMap are gone after the next cycle.
    let mut edited = api.get(&n1).await.unwrap();
    edited.data = Some(BTreeMap::from([(DATA_KEY.to_string(), "package hacked".to_string())]));
    api.replace(&n1, &PostParams::default(), &edited).await.unwrap();
    let extra =
        ConfigMap { metadata: ObjectMeta { name: Some("extra".into()), ..Default::default() }, ..Default::default() };
    api.create(&PostParams::default(), &extra).await.unwrap();
    cycle.refresh().await.unwrap();
    assert_eq!(
        policies(&api).await,
        BTreeMap::from([(n1.clone(), filled("a1", 1)), (n2.clone(), filled("My_Policy.2", 1))])
    );

    // A removed (or Disabled: the dataplane leaves it out) assignment disappears in one cycle.
    dp.set_assignments(&["a1"]);
    cycle.refresh().await.unwrap();
    assert_eq!(policies(&api).await.into_keys().collect::<Vec<_>>(), [n1]);
    dp.set_assignments(&[]);
    cycle.refresh().await.unwrap();
    assert!(policies(&api).await.is_empty());
    assert_eq!(
        metrics.cycle_stats(policy_agent::metrics::CycleKind::Refresh).cycles,
        0,
        "refresh() alone does not count loop cycles"
    );
}

#[tokio::test]
async fn failed_download_keeps_the_last_good_policy_and_is_reported() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let client = cluster.client();
    let api = test_namespace(&client, "pa-refresh-lastgood").await;
    let dp = FakeDataplane::start().await;
    dp.set_assignments(&["a1", "a2"]);
    let (cycle, state, metrics) = refresh_cycle(&dp, &client, "pa-refresh-lastgood");
    cycle.refresh().await.unwrap();
    let n1 = configmap_name("a1", &assignment_id("a1"));

    // a1 changes upstream but its download now fails: version 1 stays, the error is surfaced.
    dp.set_policy("a1", 500, "boom".into());
    let out = cycle.refresh().await.unwrap();
    assert_eq!(out.configmaps, 2);
    assert_eq!(policies(&api).await[&n1], filled("a1", 1));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].assignment_id, assignment_id("a1"));
    assert!(out.errors[0].message.contains("500"), "{}", out.errors[0].message);
    assert_eq!(state.errors(), out.errors, "the next report carries the error");
    assert!(metrics.errors()["policy_download"] >= 1);

    // A fresh process (empty cache) falls back to the ConfigMap already in the cluster.
    let (fresh, _, _) = refresh_cycle(&dp, &client, "pa-refresh-lastgood");
    let out = fresh.refresh().await.unwrap();
    assert_eq!(out.errors.len(), 1);
    assert_eq!(policies(&api).await[&n1], filled("a1", 1));

    // Recovery: the new version is loaded and the error clears.
    dp.set_policy("a1", 200, rego("a1", 2));
    let out = fresh.refresh().await.unwrap();
    assert!(out.errors.is_empty());
    assert_eq!(policies(&api).await[&n1], filled("a1", 2));

    // A substitution failure is handled the same way.
    let store = ConfigMapStore::new(client.clone(), "pa-refresh-lastgood");
    let failing: FillFn = Arc::new(|_, _, _| Err("unknown placeholder".into()));
    let broken = RefreshCycle::new(client_for(&dp), store, failing, Arc::new(RefreshState::default()), metrics.clone());
    let out = broken.refresh().await.unwrap();
    assert_eq!(out.errors.len(), 2);
    assert_eq!(policies(&api).await[&n1], filled("a1", 2));
    assert!(metrics.errors()["placeholder"] >= 2);
}

#[tokio::test]
async fn unreachable_dataplane_leaves_the_cluster_untouched() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let client = cluster.client();
    let api = test_namespace(&client, "pa-refresh-outage").await;
    let dp = FakeDataplane::start().await;
    dp.set_assignments(&["a1"]);
    let (cycle, _, _) = refresh_cycle(&dp, &client, "pa-refresh-outage");
    cycle.refresh().await.unwrap();
    let before = policies(&api).await;
    let store = ConfigMapStore::new(client.clone(), "pa-refresh-outage");
    let dead = support::client("http://127.0.0.1:9", "http://127.0.0.1:9", quick_retry(2));
    let offline =
        RefreshCycle::new(dead, store, filler(), Arc::new(RefreshState::default()), Arc::new(Metrics::default()));
    assert!(offline.refresh().await.is_err());
    assert_eq!(policies(&api).await, before);
}
