//! Shared fixtures: the nine built-ins loaded with the reference's example parameters, and small
//! builders for objects and AdmissionRequests.
#![allow(dead_code)]

use policy_engine::{PolicyEngine, Violation, builtins::BUILTINS, fill_placeholders};
use serde_json::{Map, Value, json};

/// The assignment id used for a built-in in tests: distinct per policy so violations tell them apart.
pub fn assignment(policy_id: &str) -> String {
    format!(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Authorization/policyAssignments/{policy_id}"
    )
}

/// The exact message a built-in produces.
pub fn message(policy_id: &str, detail: &str) -> String {
    format!("The operation was disallowed by policy ‘{}’. Error details: {detail}", assignment(policy_id))
}

/// Example parameter values for the nine built-ins, as the 2019 documentation gave them.
pub use policy_engine::workload::example_params;

pub fn engine_with(params: &Map<String, Value>) -> PolicyEngine {
    let mut engine = PolicyEngine::new();
    for b in &BUILTINS {
        let rego = fill_placeholders(b.source, &assignment(b.policy_id), params).expect("placeholders");
        engine.upsert_module(&format!("azure-policy/{}/policy.rego", b.policy_id), &rego).expect("built-in compiles");
    }
    engine
}

pub fn engine() -> PolicyEngine {
    engine_with(&example_params())
}

/// An AdmissionRequest for a CREATE of `object`.
pub fn create(resource: &str, namespace: &str, name: &str, object: Value) -> Value {
    json!({
        "uid": "0e1f2a3b-0000-0000-0000-000000000001",
        "kind": {"group": "", "version": "v1", "kind": object["kind"]},
        "resource": {"group": "", "version": "v1", "resource": resource},
        "name": name,
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "alice"},
        "object": object,
    })
}

/// A pod with the given containers and labels.
pub fn pod(namespace: &str, name: &str, labels: Value, containers: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": containers},
    })
}

/// A container that every pod policy accepts with the example parameters.
pub fn good_container(name: &str) -> Value {
    json!({
        "name": name, "image": "contoso.azurecr.io/web:1",
        "ports": [{"containerPort": 443}],
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
    })
}

pub fn good_labels() -> Value {
    json!({"test1": "a", "test2": "b"})
}

pub fn service(namespace: &str, name: &str, annotations: Value, spec: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": spec,
    })
}

pub fn ingress(namespace: &str, name: &str, hosts: &[&str], https: bool) -> Value {
    let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h})).collect();
    let mut obj = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rules": rules},
    });
    if https {
        obj["metadata"]["annotations"] = json!({"kubernetes.io/ingress.allow-http": "false"});
        obj["spec"]["tls"] = json!([{"hosts": hosts}]);
    }
    obj
}

/// Messages of `violations`, sorted (set semantics: order is not part of the contract).
pub fn messages(violations: &[Violation]) -> Vec<String> {
    let mut m: Vec<String> = violations.iter().map(|v| v.message.clone()).collect();
    m.sort();
    m
}

pub fn sorted(mut expected: Vec<String>) -> Vec<String> {
    expected.sort();
    expected
}
