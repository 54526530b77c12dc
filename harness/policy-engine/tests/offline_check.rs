//! `policy_engine::offline::check`, the logic behind `harness policy check`.

use std::path::PathBuf;

use policy_engine::offline::{CheckError, CheckRequest, check};

fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

const HOSTS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: team, annotations: {kubernetes.io/ingress.allow-http: \"false\"}}\nspec: {tls: [{hosts: [a.example.com]}], rules: [{host: a.example.com}]}\n";
const OTHER: &str = "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", \"metadata\": {\"name\": \"api\", \"namespace\": \"prod\"}, \"spec\": {\"rules\": [{\"host\": \"a.example.com\"}]}}";

#[test]
fn definition_with_existing_objects_and_review() {
    let def = r#"{"id": "/providers/Microsoft.Authorization/policyDefinitions/d011d9f7", "properties": {"policyRule": {"then": {"details": {"policy": "https://x.invalid/kubernetes/ingress-hostnames-conflict.rego"}}}}}"#;
    let dir = scratch("def", &[("def.json", def), ("ing.yaml", HOSTS), ("other.json", OTHER)]);
    let mut req = CheckRequest {
        definition: Some(dir.join("def.json")),
        policy_id: Some("/subscriptions/s/a1".into()),
        object_file: dir.join("ing.yaml"),
        ..Default::default()
    };
    assert!(check(&req).unwrap().allowed());
    req.existing.push(dir.join("other.json"));
    let report = check(&req).unwrap();
    assert!(!report.allowed());
    assert_eq!(report.to_json()["violations"][0]["id"], "/subscriptions/s/a1");
    assert!(
        report.violations[0]
            .message
            .ends_with("ingress host conflicts with an existing ingress api in the prod namespace")
    );

    // The same object as a full AdmissionReview.
    let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {
        "uid": "u", "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
        "name": "web", "namespace": "team", "operation": "CREATE",
        "object": serde_json::from_str::<serde_json::Value>(OTHER).unwrap()}});
    std::fs::write(dir.join("review.json"), review.to_string()).unwrap();
    req.object_file = dir.join("review.json");
    assert!(!check(&req).unwrap().allowed());
}

#[test]
fn errors_are_clear() {
    let dir = scratch("err", &[("ing.yaml", HOSTS), ("bad.rego", "package admission\ndeny[x] {")]);
    let none = CheckRequest { object_file: dir.join("ing.yaml"), ..Default::default() };
    assert!(matches!(check(&none), Err(CheckError::NoPolicy)));
    let bad = CheckRequest {
        rego_files: vec![dir.join("bad.rego")],
        object_file: dir.join("ing.yaml"),
        ..Default::default()
    };
    assert!(matches!(check(&bad), Err(CheckError::Module(_))));
    let missing = CheckRequest {
        rego_files: vec![dir.join("nope.rego")],
        object_file: dir.join("ing.yaml"),
        ..Default::default()
    };
    assert!(check(&missing).unwrap_err().to_string().contains("nope.rego"));
    let def = |file: &str| {
        format!(
            r#"{{"properties": {{"policyRule": {{"then": {{"details": {{"policy": "https://x.invalid/{file}"}}}}}}}}}}"#
        )
    };
    std::fs::write(dir.join("unknown.json"), def("unknown.rego")).unwrap();
    let unknown = CheckRequest {
        definition: Some(dir.join("unknown.json")),
        object_file: dir.join("ing.yaml"),
        ..Default::default()
    };
    let message = check(&unknown).unwrap_err().to_string();
    assert!(message.contains("unknown.rego") && message.contains("is not a built-in"), "{message}");
    // A definition's own Rego file is found beside it.
    std::fs::write(
        dir.join("unknown.rego"),
        "package admission
deny[x] { false; x := 1 }",
    )
    .unwrap();
    assert!(check(&unknown).unwrap().allowed());
}
