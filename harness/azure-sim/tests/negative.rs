//! Each way the seed sequence can go wrong fails with ARM's status and code.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn enabling_before_opt_in_is_refused_with_the_feature_named() {
    let w = world_with(preview_2019()).await;
    let sub = &w.sub;
    // Provider registered but no feature: refused, naming the feature.
    assert_eq!(w.arm.post(&format!("/subscriptions/{sub}/providers/{CONTAINER_SERVICE}/register")).await.status, 200);
    let r = w.cluster("rg", "c1", true).await;
    assert_eq!((r.status, r.code()), (400, "AddonFeatureNotRegistered"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("AKS-AzurePolicyAutoApprove"));
    snap("error_addon_feature_not_registered", &r, &w);

    // Registered but still Pending: refused.
    w.arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{CONTAINER_SERVICE}/features/AKS-AzurePolicyAutoApprove/register")).await;
    let r = w.cluster("rg", "c1", true).await;
    assert!(r.body["error"]["message"].as_str().unwrap().contains("Pending"), "{:?}", r.body);

    // Approved but the provider was not re-registered afterwards: refused.
    w.sim.approve_feature(sub, CONTAINER_SERVICE, "AKS-AzurePolicyAutoApprove").unwrap();
    let r = w.cluster("rg", "c1", true).await;
    assert_eq!(r.code(), "AddonFeatureNotRegistered");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("provider register"));
    snap("error_addon_provider_not_reregistered", &r, &w);

    // Re-registered: accepted. Nothing was installed for the refused attempts.
    w.arm.post(&format!("/subscriptions/{sub}/providers/{CONTAINER_SERVICE}/register")).await;
    assert_eq!(w.cluster("rg", "c1", true).await.body["status"], "Succeeded");
    assert_eq!(w.controller.calls().len(), 1);
}

#[tokio::test]
async fn resource_put_under_unregistered_provider_is_409() {
    let w = world().await;
    w.arm.put(&format!("/subscriptions/{}/resourcegroups/rg", w.sub), json!({"location": "westus2"})).await;
    let r = w.put_cluster("rg", "c", json!({"location": "westus2"})).await;
    assert_eq!((r.status, r.code()), (409, "MissingSubscriptionRegistration"));
    snap("error_missing_subscription_registration", &r, &w);
}

#[tokio::test]
async fn old_kubernetes_and_failed_install() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "old", false).await;
    let r = w.put_cluster("rg", "old", json!({"location": "westus2", "properties": {"kubernetesVersion": "1.9.11", "addonProfiles": {"AzurePolicy": {"enabled": true}}}})).await;
    assert_eq!((r.status, r.code()), (400, "AddonNotSupportedForKubernetesVersion"));

    *w.controller.fail_install.lock().unwrap() = Some("webhook never became ready".into());
    let op = w
        .put_cluster(
            "rg",
            "c2",
            json!({"location": "westus2", "properties": {"addonProfiles": {"azurePolicy": {"enabled": true}}}}),
        )
        .await;
    assert_eq!(op.body["status"], "Failed");
    assert_eq!(op.body["error"]["code"], "AddonInstallFailed");
    assert!(op.body["error"]["message"].as_str().unwrap().contains("webhook never became ready"));
    snap("lro_status_failed", &op, &w);
    let cluster = w
        .arm
        .get(&format!(
            "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c2",
            w.sub
        ))
        .await;
    assert_eq!(cluster.body["properties"]["provisioningState"], "Failed");
    // A retry after the fault is fixed installs again.
    *w.controller.fail_install.lock().unwrap() = None;
    let op = w.put_cluster("rg", "c2", cluster.body).await;
    assert_eq!(op.body["status"], "Succeeded");
}

#[tokio::test]
async fn no_token_bad_token_and_wrong_subscription() {
    let w = world().await;
    let path = format!("/subscriptions/{}/resourcegroups", w.sub);
    let r = w.arm.with_token(None).get(&path).await;
    assert_eq!((r.status, r.code()), (401, "AuthenticationFailed"));
    snap("error_no_token", &r, &w);
    let r = w.arm.with_token(Some("eyJhbGciOiJIUzI1NiJ9.eyJvaWQiOiJ4In0.forged".into())).get(&path).await;
    assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"));

    // A token for another subscription's principal can neither read nor write here.
    let other = w.sim.new_subscription("other");
    let intruder = w.arm.with_token(Some(w.sim.token_for(&other.subscription_id).unwrap()));
    let r = intruder.get(&path).await;
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    snap("error_wrong_subscription", &r, &w);
    let r = intruder.put(&format!("{path}/stolen"), json!({"location": "westus2"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(w.arm.get(&format!("{path}/stolen")).await.code(), "ResourceGroupNotFound");
    let r = w.arm.get("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups").await;
    assert_eq!((r.status, r.code()), (404, "SubscriptionNotFound"));
    // The token endpoint refuses a wrong secret with an OAuth error.
    let form =
        [("grant_type", "client_credentials"), ("client_id", w.creds.client_id.as_str()), ("client_secret", "wrong")];
    let r = post_form(&w.arm.http, &format!("{}/adfs/oauth2/token", w.arm.base), &form).await;
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn bad_parameters_and_unknown_definition() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    let scope = format!("/subscriptions/{}", w.sub);
    let cases = [
        ("missing", json!({}), "MissingPolicyParameter"),
        (
            "undefined",
            json!({"allowedContainerImagesRegex": {"value": "x"}, "bogus": {"value": 1}}),
            "UndefinedPolicyParameter",
        ),
        ("ill_typed", json!({"allowedContainerImagesRegex": {"value": 42}}), "InvalidPolicyParameterType"),
        (
            "not_allowed",
            json!({"allowedContainerImagesRegex": {"value": "x"}, "effect": {"value": "Audit"}}),
            "PolicyParameterValueNotAllowed",
        ),
        ("unwrapped", json!({"allowedContainerImagesRegex": "x"}), "InvalidPolicyParameters"),
    ];
    for (name, params, code) in cases {
        let r = w.assign(&scope, name, IMAGES_GUID, params).await;
        assert_eq!((r.status, r.code()), (400, code), "{name}: {:?}", r.body);
        snap(&format!("error_parameters_{name}"), &r, &w);
    }
    let r = w.assign(&scope, "ghost", "00000000-0000-0000-0000-000000000000", json!({})).await;
    assert_eq!((r.status, r.code()), (404, "PolicyDefinitionNotFound"));
    snap("error_unknown_definition", &r, &w);
    let r = w.assign(&format!("{scope}/resourceGroups/nope"), "a", PRIVILEGE_GUID, json!({})).await;
    assert_eq!(r.code(), "ResourceGroupNotFound");
    // None of the refused assignments exists.
    let list = w.arm.get(&format!("{scope}/providers/Microsoft.Authorization/policyAssignments")).await;
    assert_eq!(list.body["value"], json!([]));
}

#[tokio::test]
async fn busy_cluster_refuses_a_second_operation() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", false).await;
    *w.controller.install_delay.lock().unwrap() = std::time::Duration::from_millis(1500);
    let path =
        format!("/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c", w.sub);
    let body = json!({"location": "westus2", "properties": {"addonProfiles": {"azurepolicy": {"enabled": true}}}});
    let first = w.arm.put(&path, body.clone()).await;
    assert_eq!(first.status, 200);
    let second = w.arm.put(&path, body).await;
    assert_eq!((second.status, second.code()), (409, "OperationNotAllowed"));
    assert_eq!(w.arm.delete(&path).await.status, 409);
    snap("error_operation_not_allowed", &second, &w);
    assert_eq!(w.arm.poll(first.header("azure-asyncoperation").unwrap()).await.body["status"], "Succeeded");
}
