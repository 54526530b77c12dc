//! Engine behaviour beyond the policies: module errors, isolation, overlay, audit shape, data updates.

mod common;

use common::*;
use policy_engine::{EvalError, PolicyEngine, audit_response};
use serde_json::json;

const LABELS_OUTPUT_ARG: &str = r#"package admission
import data.k8s.matches
deny[{"id": "x", "resource": {"kind": "pods", "namespace": namespace, "name": name}, "resolution": {"message": msg}}] {
    matches[["pods", namespace, name, pod]]
    split("a,b", ",", wanted)
    label := wanted[_]
    not pod.metadata.labels[label]
    sprintf("missing %v on %v", [label, pod.metadata.name], msg)
}
"#;

#[test]
fn output_argument_forms_deny_like_opa() {
    let mut engine = PolicyEngine::new();
    engine.upsert_module("ns/cm/labels", LABELS_OUTPUT_ARG).unwrap();
    let v = engine.admit(&create("pods", "team", "p", pod("team", "p", json!({"a": "1"}), json!([])))).unwrap();
    // The message names metadata.name, so the AdmissionRequest that `matches` also yields at this
    // path (it has no metadata) produces nothing, as in the 2019 policies.
    assert_eq!(messages(&v), vec!["missing b on p".to_string()]);
}

#[test]
fn compile_errors_are_located_and_isolated() {
    let mut engine = engine();
    let err = engine
        .upsert_module("azure-policy/broken/policy.rego", "package admission\n\ndeny[x] {\n  x := \n}\n")
        .unwrap_err();
    assert_eq!(err.id, "azure-policy/broken/policy.rego");
    assert!(err.line >= 3 && err.column > 0, "{err:?}");
    assert!(!err.message.is_empty());
    let err = engine
        .upsert_module("azure-policy/unknown/policy.rego", "package admission\ndeny[x] { x := no_such_builtin(1) }\n")
        .unwrap_err();
    assert!(err.message.contains("no_such_builtin"), "{err:?}");
    assert_eq!(engine.module_ids().len(), 9);
    let v = engine.admit(&create("pods", "team", "web", pod("team", "web", json!({}), json!([])))).unwrap();
    assert_eq!(v.len(), 2, "labels policy still denies");
}

#[test]
fn evaluation_errors_are_reported_with_the_other_results() {
    let mut engine = engine();
    // A complete rule with conflicting values fails at evaluation time only.
    engine.upsert_module("azure-policy/conflict/policy.rego", "package admission\nimport data.k8s.matches\nx = 1 { matches[[_, _, _, _]] }\nx = 2 { matches[[_, _, _, _]] }\ndeny[{\"id\": \"c\", \"resource\": {}, \"resolution\": {\"message\": \"m\"}}] { x }\n").unwrap();
    let err = engine.admit(&create("pods", "team", "web", pod("team", "web", json!({}), json!([])))).unwrap_err();
    match err {
        EvalError::Modules { failures, violations } => {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].id, "azure-policy/conflict/policy.rego");
            assert_eq!(violations.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn remove_module_and_objects() {
    let mut engine = engine();
    assert!(engine.remove_module("azure-policy/PodEnforceLabels/policy.rego"));
    assert!(!engine.remove_module("azure-policy/PodEnforceLabels/policy.rego"));
    engine.upsert_object(
        "pods",
        Some("team"),
        "p9",
        pod("team", "p9", json!({}), json!([{"name": "c", "image": "nginx"}])),
    );
    assert_eq!(engine.object_count(), 1);
    let snapshot = engine.clone();
    engine.remove_object("pods", Some("team"), "p9");
    assert_eq!(engine.object_count(), 0);
    assert!(engine.audit().unwrap().is_empty());
    assert_eq!(snapshot.audit().unwrap().len(), 2, "a clone is a snapshot");
}

#[test]
fn update_overlay_hides_the_stored_copy_and_audit_shape() {
    let mut engine = engine();
    engine.upsert_object(
        "pods",
        Some("team"),
        "web",
        pod("team", "web", json!({}), json!([{"name": "c", "image": "nginx"}])),
    );
    let mut req = create("pods", "team", "web", pod("team", "web", good_labels(), json!([good_container("c")])));
    req["operation"] = json!("UPDATE");
    assert!(engine.admit(&req).unwrap().is_empty());
    let audit = engine.audit().unwrap();
    let body = serde_json::to_value(audit_response(&audit)).unwrap();
    assert_eq!(body["message"], format!("total violations:{}", audit.len()));
    assert_eq!(body["violations"][0]["resource"], json!({"kind": "pods", "namespace": "team", "name": "web"}));
    assert!(body["violations"][0]["resolution"]["message"].is_string());
    assert_eq!(serde_json::to_value(audit_response(&[])).unwrap(), json!({"message": "total violations:0"}));
}

#[test]
fn an_audited_only_module_does_not_deny_at_admission_but_reports_in_audit() {
    // What the webhook does with the policy of a `DoNotEnforce` assignment.
    let mut engine = engine();
    let labels = "azure-policy/PodEnforceLabels/policy.rego";
    let unlabelled = pod("team", "web", json!({}), json!([good_container("c")]));
    let request = create("pods", "team", "web", unlabelled.clone());
    let denied = engine.admit(&request).unwrap();
    assert!(!denied.is_empty() && denied.iter().all(|v| v.id == assignment("PodEnforceLabels")), "{denied:?}");

    engine.set_audit_only(labels, true);
    assert!(engine.is_audit_only(labels));
    assert!(engine.admit(&request).unwrap().is_empty());
    assert!(engine.admit_reference(&request).unwrap().is_empty());
    engine.upsert_object("pods", Some("team"), "web", unlabelled);
    assert_eq!(engine.audit().unwrap(), denied, "audited as if enforced");
    assert_eq!(engine.audit_reference().unwrap(), denied);

    engine.set_audit_only(labels, false);
    let mut update = request.clone();
    update["operation"] = json!("UPDATE");
    assert_eq!(engine.admit(&update).unwrap(), denied, "enforced again");
    engine.set_audit_only(labels, true);
    assert!(engine.remove_module(labels));
    assert!(!engine.is_audit_only(labels), "the mark goes with the module");
}

#[test]
fn empty_namespace_means_default_and_regex_parameters_are_escaped() {
    let mut params = example_params();
    params.insert("allowedContainerImagesRegex".into(), json!(r#"^.+\.azurecr\.io/.+$"#));
    let engine = engine_with(&params);
    let mut req = create("pods", "", "web", pod("", "web", good_labels(), json!([good_container("c")])));
    req.as_object_mut().unwrap().remove("namespace");
    assert!(engine.admit(&req).unwrap().is_empty());
    let mut bad = good_container("c");
    bad["image"] = json!("contoso.azurecrXio/app");
    let v = engine.admit(&create("pods", "", "web", pod("", "web", good_labels(), json!([bad])))).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].resource.namespace, "default");
}
