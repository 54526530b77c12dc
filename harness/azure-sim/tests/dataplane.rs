//! The dataplane contract (docs/contracts.md §3) and the PolicyInsights views built from it.

mod common;

use common::*;
use serde_json::{Value, json};

fn enc(s: &str) -> String {
    s.replace('/', "%2F")
}

fn report(id: &str, cluster: &str, at: &str, results: &[(&str, &str)]) -> Value {
    let assignments: Vec<Value> = results
        .iter()
        .map(|(a, state)| json!({"assignmentId": a, "complianceState": state, "violations": []}))
        .collect();
    json!({"reportId": id, "clusterId": cluster, "cycle": 1, "generatedAt": at, "assignments": assignments})
}

#[tokio::test]
async fn assignments_for_a_cluster_follow_scope_not_scopes_and_effect() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    w.cluster("other", "d", true).await;
    let c = w.cluster_id("rg", "c");
    let sub = format!("/subscriptions/{}", w.sub);
    let rg = format!("{sub}/resourceGroups/rg");
    assert_eq!(w.assign(&sub, "at-sub", PRIVILEGE_GUID, json!({})).await.status, 201);
    assert_eq!(
        w.assign(
            &rg,
            "at-rg",
            "16c6ca72-89d2-4798-b87e-496f9de7fcb7",
            json!({"commaSeparatedListOfLabels": {"value": "a, b"}})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        w.assign(&format!("{sub}/resourceGroups/other"), "elsewhere", PRIVILEGE_GUID, json!({})).await.status,
        201
    );
    assert_eq!(
        w.assign(
            &sub,
            "disabled",
            IMAGES_GUID,
            json!({"allowedContainerImagesRegex": {"value": "x"}, "effect": {"value": "Disabled"}})
        )
        .await
        .status,
        201
    );
    let excluded = w
        .arm
        .put(
            &format!("{sub}/providers/Microsoft.Authorization/policyAssignments/excluded"),
            json!({"properties": {"policyDefinitionId": format!("/providers/Microsoft.Authorization/policyDefinitions/{PRIVILEGE_GUID}"), "notScopes": [rg]}}),
        )
        .await;
    assert_eq!(excluded.status, 201);

    let listed = w.arm.get(&format!("/dataplane/v1/assignments?clusterId={}", enc(&c))).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let entries = listed.body["assignments"].as_array().unwrap();
    let mut names: Vec<&str> = entries.iter().map(|a| a["assignmentName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["at-rg", "at-sub"]);
    let labels = entries.iter().find(|a| a["assignmentName"] == "at-rg").unwrap();
    assert_eq!(labels["parameters"], json!({"commaSeparatedListOfLabels": "a, b"}));
    assert_eq!(labels["effect"], "EnforceRegoPolicy");
    // The policy URI is served by the simulator, placeholders intact.
    let rego = w.arm.http.get(labels["policyUri"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(rego.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(rego.text().await.unwrap().contains("{{policyParameters.commaSeparatedListOfLabels}}"));
    assert_eq!(w.arm.get("/policies/kubernetes/nope.rego").await.status, 404);
}

#[tokio::test]
async fn dataplane_needs_the_feature_a_token_and_an_enabled_addon() {
    let w = world_with(preview_2019()).await;
    let sub = &w.sub;
    w.arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{CONTAINER_SERVICE}/features/AKS-AzurePolicyAutoApprove/register")).await;
    w.sim.approve_feature(sub, CONTAINER_SERVICE, "AKS-AzurePolicyAutoApprove").unwrap();
    w.arm.post(&format!("/subscriptions/{sub}/providers/{CONTAINER_SERVICE}/register")).await;
    w.cluster("rg", "c", true).await;
    let url = format!("/dataplane/v1/assignments?clusterId={}", enc(&w.cluster_id("rg", "c")));
    let r = w.arm.get(&url).await;
    assert_eq!((r.status, r.code()), (403, "FeatureNotRegistered"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("AKS-DataplaneAutoApprove"));
    snap("error_dataplane_feature_not_registered", &r, &w);
    w.arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{POLICY_INSIGHTS}/features/AKS-DataplaneAutoApprove/register")).await;
    w.sim.approve_feature(sub, POLICY_INSIGHTS, "AKS-DataplaneAutoApprove").unwrap();
    assert_eq!(w.arm.get(&url).await.status, 200);
    assert_eq!(w.arm.with_token(None).get(&url).await.status, 401);
    let other = w.sim.new_subscription("other");
    assert_eq!(
        w.arm.with_token(Some(w.sim.token_for(&other.subscription_id).unwrap())).get(&url).await.code(),
        "AuthorizationFailed"
    );
    let r = w.arm.get(&format!("/dataplane/v1/assignments?clusterId={}", enc(&w.cluster_id("rg", "missing")))).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
}

#[tokio::test]
async fn reports_are_idempotent_and_feed_policy_insights() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    w.cluster("rg2", "d", true).await;
    let (c, d) = (w.cluster_id("rg", "c"), w.cluster_id("rg2", "d"));
    let sub = format!("/subscriptions/{}", w.sub);
    let a1 = w.assign(&sub, "a1", PRIVILEGE_GUID, json!({})).await.body["id"].as_str().unwrap().to_string();
    let a2 = w.assign(&sub, "a2", "a2d3ed81-8d11-4079-80a5-1faadc0024f4", json!({})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let arm = &w.arm;
    let first = report("r1", &c, "2019-06-01T00:00:00Z", &[(&a1, "NonCompliant"), (&a2, "Compliant")]);
    let post = |body: Value| {
        let id = body["reportId"].as_str().unwrap().to_string();
        let req = arm
            .http
            .post(format!("{}/dataplane/v1/reports", arm.base))
            .bearer_auth(arm.token.clone().unwrap())
            .header("Idempotency-Key", id)
            .json(&body);
        async move { into_resp(req.send().await.unwrap()).await }
    };
    assert_eq!(post(first.clone()).await.body["duplicate"], false);
    assert_eq!(post(first).await.body["duplicate"], true);
    assert_eq!(post(report("r2", &d, "2019-06-01T00:01:00Z", &[(&a1, "Compliant")])).await.status, 200);
    // An older report arriving late does not overwrite a newer state.
    assert_eq!(post(report("r0", &c, "2019-05-01T00:00:00Z", &[(&a1, "Compliant")])).await.status, 200);
    assert_eq!(w.sim.reports(&c).len(), 2);
    let admin = w.arm.get(&format!("/admin/reports?clusterId={}", enc(&c))).await;
    assert_eq!(admin.body["value"].as_array().unwrap().len(), 2);
    let bad = post(json!({"reportId": "x"})).await;
    assert_eq!((bad.status, bad.code()), (400, "InvalidRequestContent"));

    let query = |scope: String, q: &str| {
        let path = format!("{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults{q}");
        async move { arm.post(&path).await }
    };
    assert_eq!(query(sub.clone(), "").await.body["@odata.count"], 3);
    assert_eq!(query(format!("{sub}/resourceGroups/rg"), "").await.body["@odata.count"], 2);
    assert_eq!(query(d.clone(), "").await.body["@odata.count"], 1);
    assert_eq!(query(a1.clone(), "").await.body["@odata.count"], 2);
    let nc = query(sub.clone(), "?$filter=complianceState%20eq%20'NonCompliant'").await;
    assert_eq!(nc.body["@odata.count"], 1);
    assert_eq!(nc.body["value"][0]["policyAssignmentName"], "a1");
    assert_eq!(nc.body["value"][0]["resourceId"], c.as_str());
    let f = format!("?$filter=policyAssignmentName%20eq%20'a1'%20and%20resourceId%20eq%20'{}'", d.replace('/', "%2F"));
    assert_eq!(query(sub.clone(), &f).await.body["value"][0]["complianceState"], "Compliant");
    assert_eq!(query(sub.clone(), "?$top=1").await.body["@odata.count"], 1);
    let expanded = query(c.clone(), "?$expand=components").await;
    assert!(expanded.body["value"][0]["components"].is_array());

    let summary = w.arm.post(&format!("{sub}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize")).await;
    let results = &summary.body["value"][0]["results"];
    assert_eq!(
        (results["nonCompliantResources"].as_u64(), results["nonCompliantPolicies"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(summary.body["value"][0]["policyAssignments"].as_array().unwrap().len(), 2);
    // An empty scope still yields one summary element (the CLI indexes value[0]).
    let empty = w.arm.post(&format!("{sub}/resourceGroups/rg2/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?$filter=complianceState%20eq%20'NonCompliant'")).await;
    assert_eq!(empty.body["value"].as_array().unwrap().len(), 1);

    // Deleting an assignment removes its states from `latest`; excluding a cluster hides them.
    assert_eq!(w.arm.delete(&a2).await.status, 200);
    assert_eq!(query(sub.clone(), "").await.body["@odata.count"], 2);
    let mut a1_body = w.arm.get(&a1).await.body;
    a1_body["properties"]["notScopes"] = json!([format!("{sub}/resourceGroups/rg2")]);
    // A replacement answers 201 as a creation does (the API declares no other success status).
    assert_eq!(w.arm.put(&a1, a1_body).await.status, 201);
    assert_eq!(query(sub.clone(), "").await.body["@odata.count"], 1);
}
