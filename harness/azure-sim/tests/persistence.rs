//! `--state-file` keeps state, tokens and the CA across restarts; `--definitions DIR` brings custom
//! policies; plain HTTP works for scripting.

mod common;

use std::sync::Arc;

use azure_sim::{AzureSim, NoopAddonController, SimConfig};
use common::*;
use serde_json::json;

#[tokio::test]
async fn state_survives_a_restart() {
    pki::install_ring_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        state_file: Some(dir.path().join("state.json")),
        auto_approve_features: true,
        ..SimConfig::default()
    };
    let sim = AzureSim::start(config.clone(), Arc::new(NoopAddonController)).await.unwrap();
    let (sub, ca) = (sim.default_subscription(), sim.ca_pem().unwrap().to_string());
    assert_eq!(std::fs::read_to_string(sim.ca_path().unwrap()).unwrap(), ca);
    let token = sim.token_for(&sub).unwrap();
    let arm = Arm {
        http: client(&sim),
        base: sim.arm_url().to_string(),
        token: Some(token.clone()),
        api_version: "2019-10-01",
    };
    assert_eq!(
        arm.put(&format!("/subscriptions/{sub}/resourcegroups/kept"), json!({"location": "westus2"})).await.status,
        201
    );
    assert_eq!(arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{CONTAINER_SERVICE}/features/AKS-AzurePolicyAutoApprove/register")).await.status, 200);
    sim.shutdown().await;
    // No temp file is left behind by the atomic writes.
    let files: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().all(|f| !f.contains(".tmp-")), "{files:?}");

    let sim = AzureSim::start(config, Arc::new(NoopAddonController)).await.unwrap();
    assert_eq!(sim.default_subscription(), sub);
    assert_eq!(sim.ca_pem().unwrap(), ca, "same CA after restart");
    let arm =
        Arm { http: client(&sim), base: sim.arm_url().to_string(), token: Some(token), api_version: "2019-10-01" };
    assert_eq!(arm.get(&format!("/subscriptions/{sub}/resourcegroups/kept")).await.status, 200, "old token, old group");
    let f = arm.get(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{CONTAINER_SERVICE}/features/aks-azurepolicyautoapprove")).await;
    assert_eq!(f.body["properties"]["state"], "Registered");
}

#[tokio::test]
async fn corrupt_state_file_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, "{ half a state").unwrap();
    let err = AzureSim::start(
        SimConfig { state_file: Some(path.clone()), tls: false, ..SimConfig::default() },
        Arc::new(NoopAddonController),
    )
    .await;
    assert!(matches!(err, Err(azure_sim::SimError::CorruptState { .. })));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ half a state");
}

#[tokio::test]
async fn custom_definitions_from_a_directory_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("no-latest.rego"), "package admission\n# custom\n").unwrap();
    let definition = json!({"name": "no-latest", "properties": {
        "displayName": "No :latest images", "mode": "Microsoft.ContainerService.Data",
        "parameters": {"effect": {"type": "String", "defaultValue": "EnforceRegoPolicy", "allowedValues": ["EnforceRegoPolicy", "Disabled"]}},
        "policyRule": {"if": {"field": "type", "equals": "Microsoft.ContainerService/managedClusters"},
                       "then": {"effect": "[parameters('effect')]", "details": {"policyId": "NoLatest", "policy": "no-latest.rego"}}}}});
    std::fs::write(dir.path().join("no-latest.json"), definition.to_string()).unwrap();
    let config = SimConfig {
        tls: false,
        auto_approve_features: true,
        definitions_dir: Some(dir.path().to_path_buf()),
        ..SimConfig::default()
    };
    let w = world_with(config).await;
    assert!(w.sim.arm_url().starts_with("http://") && w.sim.ca_path().is_none());
    let d = w.arm.get("/providers/Microsoft.Authorization/policyDefinitions/no-latest").await;
    assert_eq!(d.body["properties"]["policyType"], "Custom");
    let uri = d.body["properties"]["policyRule"]["then"]["details"]["policy"].as_str().unwrap().to_string();
    assert_eq!(uri, format!("{}/policies/custom/no-latest.rego", w.sim.arm_url()));
    assert!(w.arm.http.get(&uri).send().await.unwrap().text().await.unwrap().contains("# custom"));

    // A custom definition PUT into the subscription, and one that breaks the Rego-mode rules.
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    let sub = format!("/subscriptions/{}", w.sub);
    let put =
        w.arm.put(&format!("{sub}/providers/Microsoft.Authorization/policyDefinitions/mine"), definition.clone()).await;
    assert_eq!(put.status, 201, "{:?}", put.body);
    snap_plain(&w, &put);
    let mut broken = definition;
    broken["properties"]["policyRule"]["then"]["details"] = json!({});
    let r = w.arm.put(&format!("{sub}/providers/Microsoft.Authorization/policyDefinitions/broken"), broken).await;
    assert_eq!((r.status, r.code()), (400, "InvalidPolicyRule"));
    let a = w
        .arm
        .put(
            &format!("{sub}/providers/Microsoft.Authorization/policyAssignments/mine"),
            json!({"properties": {"policyDefinitionId": format!("{sub}/providers/Microsoft.Authorization/policyDefinitions/mine")}}),
        )
        .await;
    assert_eq!(a.status, 201);
    let listed = w
        .arm
        .get(&format!("/dataplane/v1/assignments?clusterId={}", w.cluster_id("rg", "c").replace('/', "%2F")))
        .await;
    assert_eq!(listed.body["assignments"][0]["policyUri"], uri.as_str());
}

fn snap_plain(w: &World, r: &Resp) {
    snap("policy_definition_custom_put", r, w);
}
