//! Least privilege: with only the Role documented in the crate docs (configmaps: list, get, create,
//! update, delete in the policy namespace), a full refresh works, and the same identity gets 403 on
//! ConfigMaps in any other namespace and on cluster-wide reads.

mod support;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{ListParams, PostParams};
use policy_agent::configmap_cache::{ConfigMapStore, api_code};
use policy_agent::metrics::Metrics;
use policy_agent::refresh_cycle::{RefreshCycle, RefreshState};
use support::fake_dataplane::FakeDataplane;
use support::*;

const NS: &str = "pa-rbac";

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn agent_identity_manages_its_namespace_and_gets_403_elsewhere() {
    init();
    let cluster = cluster::shared().await.expect("local cluster");
    let admin = cluster.client();
    let pp = PostParams::default();
    for ns in [NS, "pa-rbac-other"] {
        let _ = Api::<Namespace>::all(admin.clone())
            .create(&pp, &from_json(serde_json::json!({"metadata": {"name": ns}})))
            .await;
    }
    let _ = Api::<ServiceAccount>::namespaced(admin.clone(), NS)
        .create(&pp, &from_json(serde_json::json!({"metadata": {"name": "policy-agent"}})))
        .await;
    let _ = Api::<Role>::namespaced(admin.clone(), NS).create(&pp, &from_json(serde_json::json!({
        "metadata": {"name": "policy-agent"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "get", "create", "update", "delete"]}]
    }))).await;
    let _ = Api::<RoleBinding>::namespaced(admin.clone(), NS)
        .create(
            &pp,
            &from_json(serde_json::json!({
                "metadata": {"name": "policy-agent"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "policy-agent"},
                "subjects": [{"kind": "ServiceAccount", "name": "policy-agent", "namespace": NS}]
            })),
        )
        .await;
    let token = Api::<ServiceAccount>::namespaced(admin.clone(), NS)
        .create_token_request("policy-agent", &pp, &from_json(serde_json::json!({"spec": {"audiences": []}})))
        .await
        .expect("TokenRequest")
        .status
        .unwrap()
        .token
        .expect("token");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("agent.kubeconfig");
    cluster.kubeconfig_for_token(&token, &kubeconfig).await.unwrap();
    let agent = policy_agent::agent::kube_client(Some(&kubeconfig)).await.unwrap();

    // The whole refresh, twice (delete + create + the 409 path are all exercised by convergence).
    let dp = FakeDataplane::start().await;
    dp.set_assignments(&["a1", "a2"]);
    let store = ConfigMapStore::new(agent.clone(), NS);
    let cycle = RefreshCycle::new(
        client(&dp.uri(), &dp.uri(), quick_retry(2)),
        store,
        Arc::new(|r, _, _| Ok(r.to_string())),
        Arc::new(RefreshState::default()),
        Arc::new(Metrics::default()),
    );
    assert_eq!(cycle.refresh().await.unwrap().configmaps, 2);
    assert_eq!(cycle.refresh().await.unwrap().configmaps, 2);

    let other: Api<ConfigMap> = Api::namespaced(agent.clone(), "pa-rbac-other");
    let err = other.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_code(&err), Some(403), "{err}");
    let err = other.get("kube-root-ca.crt").await.unwrap_err();
    assert_eq!(api_code(&err), Some(403), "{err}");
    let err = Api::<ConfigMap>::all(agent.clone()).list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_code(&err), Some(403), "no cluster-wide reads: {err}");
    let err =
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(agent, NS).list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_code(&err), Some(403), "nothing but ConfigMaps: {err}");
    println!("rbac: agent identity got 403 on ConfigMaps in another namespace, cluster-wide, and on pods");
}
