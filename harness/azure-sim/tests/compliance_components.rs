//! Today's add-on in PolicyInsights (issue 13 item 1, "compliance with components"): a report's
//! `constraintAssignments` become the cluster's states per assignment, `$expand=components(...)`
//! lists the Kubernetes objects with its `$filter`, the 500-record cap, reason codes and the error
//! state; the 2019 report path is unchanged.

mod common;

use common::*;
use serde_json::{Value, json};

const ALLOWED_IMAGES: &str = "febd0533-8e55-448f-b837-bd0e06f16469";
const NO_PRIVILEGE: &str = "95edb821-ddaf-4404-9732-666045e056b4";
const BOTH: &str = "components($filter=ComplianceState eq 'NonCompliant' or ComplianceState eq 'Compliant')";

fn pod(namespace: &str, name: &str, state: &str, at: &str) -> Value {
    let violation = state == "NonCompliant";
    json!({
        "kind": "Pod", "group": "", "version": "v1", "namespace": namespace, "name": name,
        "complianceState": state, "timestamp": at,
        "message": if violation { "container <nginx> has an invalid image repo <nginx>" } else { "" },
    })
}

/// A world with the add-on on cluster rg/c and two current built-ins assigned to it.
struct Setup {
    w: World,
    cluster: String,
    images: String,
    privileged: String,
}

async fn setup() -> Setup {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    let cluster = w.cluster_id("rg", "c");
    let params =
        json!({"allowedContainerImagesRegex": {"value": "^myacr\\.azurecr\\.io/.+$"}, "effect": {"value": "audit"}});
    let images = w.assign(&cluster, "images", ALLOWED_IMAGES, params).await;
    assert_eq!(images.status, 201, "{:?}", images.body);
    let privileged = w.assign(&cluster, "privileged", NO_PRIVILEGE, json!({"effect": {"value": "deny"}})).await;
    assert_eq!(privileged.status, 201, "{:?}", privileged.body);
    let id = |r: &Resp| r.body["id"].as_str().unwrap().to_string();
    Setup { cluster, images: id(&images), privileged: id(&privileged), w }
}

impl Setup {
    async fn post(&self, report: Value) -> Resp {
        let id = report["reportId"].as_str().unwrap().to_string();
        let arm = &self.w.arm;
        let req = arm
            .http
            .post(format!("{}/dataplane/v1/reports", arm.base))
            .bearer_auth(arm.token.clone().unwrap())
            .header("Idempotency-Key", id)
            .json(&report);
        into_resp(req.send().await.unwrap()).await
    }

    fn report(&self, id: &str, at: &str, entries: Value) -> Value {
        json!({"reportId": id, "clusterId": self.cluster, "cycle": 1, "generatedAt": at,
               "assignments": [], "constraintAssignments": entries})
    }

    /// queryResults at the cluster, with `$expand` when given.
    async fn states(&self, expand: Option<&str>) -> Resp {
        let mut path = format!("{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults", self.cluster);
        if let Some(e) = expand {
            path.push_str(&format!("?$expand={}", urlencode(e)));
        }
        let r = self.w.arm.post(&path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r
    }
}

fn by_name<'a>(states: &'a Resp, assignment: &str) -> &'a Value {
    states.body["value"].as_array().unwrap().iter().find(|v| v["policyAssignmentName"] == assignment).unwrap()
}

fn ids(record: &Value) -> Vec<&str> {
    record["components"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn components_are_listed_with_each_filter_and_the_state_follows_them() {
    let s = setup().await;
    let entries = json!([
        {"assignmentId": s.images, "complianceState": "NonCompliant", "components": [
            pod("default", "nginx", "NonCompliant", "2026-01-01T00:00:02Z"),
            pod("default", "app", "Compliant", "2026-01-01T00:00:01Z"),
            pod("team", "old", "NonCompliant", "2026-01-01T00:00:00Z"),
        ]},
        {"assignmentId": s.privileged, "complianceState": "Compliant", "components": [
            pod("default", "app", "Compliant", "2026-01-01T00:00:01Z"),
        ]},
    ]);
    let posted = s.post(s.report("r1", "2026-01-01T00:01:00Z", entries)).await;
    assert_eq!((posted.status, posted.body["duplicate"].as_bool()), (200, Some(false)), "{:?}", posted.body);

    // Without $expand: the records as before, plus the (empty) reason code.
    let plain = s.states(None).await;
    assert_eq!(plain.body["@odata.count"], 2);
    let images = by_name(&plain, "images");
    assert_eq!(
        (images["complianceState"].as_str(), images["isCompliant"].as_bool()),
        (Some("NonCompliant"), Some(false))
    );
    assert!(images.get("components").is_none());
    assert_eq!(images["complianceReasonCode"], "");
    assert_eq!(images["resourceId"], s.cluster.as_str());
    assert_eq!(images["timestamp"], "2026-01-01T00:01:00Z");
    assert_eq!(by_name(&plain, "privileged")["complianceState"], "Compliant");

    // Both states, newest first, in Azure's shape and nothing more.
    let both = s.states(Some(BOTH)).await;
    let images = by_name(&both, "images");
    assert_eq!(ids(images), ["default/nginx", "default/app", "team/old"]);
    assert_eq!(
        images["components"][0],
        json!({"id": "default/nginx", "type": "pod", "name": "nginx", "timestamp": "2026-01-01T00:00:02Z", "complianceState": "NonCompliant"})
    );
    assert_eq!(ids(by_name(&both, "privileged")), ["default/app"]);
    assert_eq!(ids(by_name(&s.states(Some("components")).await, "images")).len(), 3);

    let bad = s.states(Some("components($filter=ComplianceState eq 'NonCompliant')")).await;
    assert_eq!(ids(by_name(&bad, "images")), ["default/nginx", "team/old"]);
    assert_eq!(by_name(&bad, "privileged")["components"], json!([]));
    let good = s.states(Some("components($filter=complianceState eq 'Compliant')")).await;
    assert_eq!(ids(by_name(&good, "images")), ["default/app"]);
    // The record-level $filter and the component-level one together.
    let path = format!(
        "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?$filter={}&$expand={}",
        s.cluster,
        urlencode("complianceState eq 'NonCompliant'"),
        urlencode("components($filter=ComplianceState eq 'Compliant')")
    );
    let narrowed = s.w.arm.post(&path).await;
    assert_eq!(narrowed.body["@odata.count"], 1);
    assert_eq!(ids(&narrowed.body["value"][0]), ["default/app"]);

    // What the expansion cannot honour is a 400, not a silently different answer.
    let path = format!(
        "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?$expand={}",
        s.cluster,
        urlencode("components($apply=groupby((complianceState),aggregate($count as count)))")
    );
    let refused = s.w.arm.post(&path).await;
    assert_eq!((refused.status, refused.code()), (400, "InvalidQueryParameterValue"));

    // A later report with no violation makes the assignment compliant; an older one changes nothing.
    let fixed = json!([{"assignmentId": s.images, "complianceState": "Compliant", "components": [
        pod("default", "app", "Compliant", "2026-01-01T00:02:00Z")]}]);
    assert_eq!(s.post(s.report("r2", "2026-01-01T00:03:00Z", fixed)).await.status, 200);
    let late = json!([{"assignmentId": s.images, "complianceState": "NonCompliant", "components": [
        pod("default", "nginx", "NonCompliant", "2026-01-01T00:00:00Z")]}]);
    assert_eq!(s.post(s.report("r0", "2026-01-01T00:00:30Z", late)).await.status, 200);
    assert_eq!(by_name(&s.states(None).await, "images")["complianceState"], "Compliant");
}

#[tokio::test]
async fn non_compliant_components_are_capped_at_500_per_policy_per_cluster() {
    let s = setup().await;
    // 501 violations, one second apart (the oldest is pod-0), and two compliant objects.
    let mut components: Vec<Value> = (0..501)
        .map(|i| {
            pod("load", &format!("pod-{i}"), "NonCompliant", &format!("2026-01-01T01:{:02}:{:02}Z", i / 60, i % 60))
        })
        .collect();
    components.push(pod("load", "fine-1", "Compliant", "2026-01-01T00:00:00Z"));
    components.push(pod("load", "fine-2", "Compliant", "2026-01-01T00:00:00Z"));
    let entries = json!([{"assignmentId": s.images, "complianceState": "NonCompliant", "components": components}]);
    assert_eq!(s.post(s.report("cap", "2026-01-01T02:00:00Z", entries)).await.status, 200);

    let listed = s.states(Some(BOTH)).await;
    let record = by_name(&listed, "images");
    let all = record["components"].as_array().unwrap();
    let bad: Vec<&str> =
        all.iter().filter(|c| c["complianceState"] == "NonCompliant").map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(bad.len(), 500);
    assert_eq!(bad[0], "pod-500", "newest first");
    assert!(!bad.contains(&"pod-0"), "the oldest violation is the one dropped");
    assert_eq!(all.len(), 502, "compliant components are not capped");
    let only_bad = s.states(Some("components($filter=ComplianceState eq 'NonCompliant')")).await;
    assert_eq!(by_name(&only_bad, "images")["components"].as_array().unwrap().len(), 500);
    // The add-on's own report is kept whole.
    let kept = s.w.sim.reports(&s.cluster);
    assert_eq!(kept[0].constraint_assignments[0].components.len(), 503);
}

#[tokio::test]
async fn reason_codes_give_the_error_state_or_non_compliance() {
    let s = setup().await;
    let entries = json!([
        // The template never installed: nothing is in effect, so the cluster is in the error state.
        {"assignmentId": s.images, "complianceState": "Error", "reasons": [
            {"code": "ConstraintStatusStale", "message": "no audit for 2h"},
            {"code": "ConstraintTemplateInstallFailed", "message": "rego_parse_error: unexpected eof token"}]},
        // An update failed and the old constraint is kept: non-compliant until resolved.
        {"assignmentId": s.privileged, "complianceState": "NonCompliant", "reasons": [
            {"code": "ConstraintUpdateFailed", "message": "admission webhook denied the update"}]},
    ]);
    let posted = s.post(s.report("why", "2026-01-01T00:00:00Z", entries)).await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);

    let plain = s.states(None).await;
    let images = by_name(&plain, "images");
    assert_eq!(
        (images["complianceState"].as_str(), images["isCompliant"].as_bool(), images["complianceReasonCode"].as_str()),
        (Some("Error"), Some(false), Some("ConstraintTemplateInstallFailed"))
    );
    let privileged = by_name(&plain, "privileged");
    assert_eq!(
        (privileged["complianceState"].as_str(), privileged["complianceReasonCode"].as_str()),
        (Some("NonCompliant"), Some("ConstraintUpdateFailed"))
    );
    assert_eq!(by_name(&s.states(Some(BOTH)).await, "images")["components"], json!([]));
    let errors =
        s.w.arm
            .post(&format!(
                "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?$filter={}",
                s.cluster,
                urlencode("complianceState eq 'Error'")
            ))
            .await;
    assert_eq!(errors.body["@odata.count"], 1);

    // The summary counts the error state apart; a non-compliant policy decides the resource.
    let summary = s
        .w
        .arm
        .post(&format!("/subscriptions/{}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize", s.w.sub))
        .await;
    let results = &summary.body["value"][0]["results"];
    assert_eq!(
        (results["nonCompliantResources"].as_u64(), results["nonCompliantPolicies"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        results["policyDetails"],
        json!([{"complianceState": "compliant", "count": 0}, {"complianceState": "noncompliant", "count": 1}, {"complianceState": "error", "count": 1}])
    );
    assert_eq!(
        results["resourceDetails"],
        json!([{"complianceState": "compliant", "count": 0}, {"complianceState": "noncompliant", "count": 1}])
    );

    // A reason Azure does not have, or an Error component, is refused.
    let unknown =
        json!([{"assignmentId": s.images, "complianceState": "Error", "reasons": [{"code": "TemplateBroken"}]}]);
    let r = s.post(s.report("bad-1", "2026-01-01T00:00:00Z", unknown)).await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequestContent"));
    let mut broken = pod("default", "x", "NonCompliant", "2026-01-01T00:00:00Z");
    broken["complianceState"] = json!("Error");
    let r = s
        .post(s.report(
            "bad-2",
            "2026-01-01T00:00:00Z",
            json!([{"assignmentId": s.images, "complianceState": "Error", "components": [broken]}]),
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequestContent"));
    assert_eq!(s.w.sim.reports(&s.cluster).len(), 1, "refused reports are not kept");
}

#[tokio::test]
async fn the_2019_report_path_is_unchanged_beside_the_current_one() {
    let s = setup().await;
    let rego = s.w.assign(&s.cluster, "rego", PRIVILEGE_GUID, json!({})).await.body["id"].as_str().unwrap().to_string();
    let report = json!({"reportId": "old", "clusterId": s.cluster, "cycle": 1, "generatedAt": "2026-01-01T00:00:00Z",
        "assignments": [{"assignmentId": rego, "complianceState": "NonCompliant",
            "violations": [{"kind": "pods", "namespace": "default", "name": "nginx", "message": "The operation was disallowed by policy", "source": "audit"}]}]});
    assert_eq!(s.post(report.clone()).await.status, 200);
    // The stored report reads back as sent: no `constraintAssignments` appears in a 2019 report.
    let admin = s.w.arm.get(&format!("/admin/reports?clusterId={}", urlencode(&s.cluster))).await;
    assert_eq!(
        admin.body["value"][0],
        report
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("refreshErrors".into(), json!([]));
                Value::Object(o)
            })
            .unwrap()
    );

    let plain = s.states(None).await;
    let record = by_name(&plain, "rego");
    assert_eq!(record["complianceState"], "NonCompliant");
    assert!(record.get("complianceReasonCode").is_none() && record.get("components").is_none());
    let expanded = s.states(Some("components")).await;
    assert_eq!(
        by_name(&expanded, "rego")["components"],
        json!([{"id": "pods/default/nginx", "type": "pods", "name": "nginx", "namespace": "default",
                "timestamp": "2026-01-01T00:00:00Z", "complianceState": "NonCompliant",
                "message": "The operation was disallowed by policy", "source": "audit"}])
    );
    let compliant_only = s.states(Some("components($filter=ComplianceState eq 'Compliant')")).await;
    assert_eq!(by_name(&compliant_only, "rego")["components"], json!([]));
}
