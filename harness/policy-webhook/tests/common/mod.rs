//! Shared by the integration tests and the `https_load` example: test PKI, the nine built-in
//! policies with their placeholders filled, AdmissionReview builders and an HTTPS client.
#![allow(dead_code)]

use policy_engine::PolicyEngine;
use policy_engine::builtins::BUILTINS;
use serde_json::{Map, Value, json};

/// Assignment id used as `{{AzurePolicyID}}` for built-in `policy_id` (contracts §2 shape).
pub fn assignment_id(policy_id: &str) -> String {
    format!("/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Authorization/policyAssignments/{policy_id}")
}

/// Parameter values for the nine (those of the reference's conformance table).
pub fn parameters() -> Map<String, Value> {
    let mut params = Map::new();
    params.insert("allowedContainerImagesRegex".into(), json!("^.+azurecr.io/.+$"));
    params.insert("allowedContainerPortsRegex".into(), json!("^(443|446)$"));
    params.insert("commaSeparatedListOfLabels".into(), json!("test1,test2"));
    params.insert("allowedServicePortsRegex".into(), json!("^(443)$"));
    params
}

/// The nine built-ins as `(ConfigMap name, filled Rego)`.
pub fn nine_policies() -> Vec<(String, String)> {
    BUILTINS
        .iter()
        .map(|b| {
            let rego = policy_engine::fill_placeholders(b.source, &assignment_id(b.policy_id), &parameters())
                .unwrap_or_else(|e| panic!("{}: {e}", b.file));
            (format!("azurepolicy-{}", b.policy_id.to_lowercase()), rego)
        })
        .collect()
}

/// An engine with the nine loaded as `azure-policy/<configmap>/policy.rego`.
pub fn engine_with_nine() -> PolicyEngine {
    let mut engine = PolicyEngine::new();
    for (name, rego) in nine_policies() {
        engine.upsert_module(&format!("azure-policy/{name}/policy.rego"), &rego).unwrap_or_else(|e| panic!("{e}"));
    }
    engine
}

/// A CA and a serving certificate signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A serving certificate for 127.0.0.1 and localhost.
pub fn test_pki() -> TestPki {
    test_pki_for("127.0.0.1")
}

/// A serving certificate for 127.0.0.1, localhost and `host` (the name the API server calls us
/// by; `host.docker.internal`-style names on the k3s backend).
pub fn test_pki_for(host: &str) -> TestPki {
    let ca = pki::Ca::new("policy-webhook-test-ca").unwrap();
    let mut dns = vec!["localhost"];
    if host.parse::<std::net::IpAddr>().is_err() {
        dns.push(host);
    }
    let server = ca.issue_server(&dns, &["127.0.0.1".parse().unwrap()]).unwrap();
    TestPki { ca_pem: ca.cert_pem(), cert_pem: server.cert_pem, key_pem: server.key_pem }
}

/// A reqwest client trusting only `ca_pem`.
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    pki::install_ring_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

/// A compliant pod for the nine: allowed image, port 443, limits, both labels, not privileged.
pub fn compliant_pod(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"test1": "a", "test2": "b"}},
        "spec": {"containers": [{
            "name": "app", "image": "myregistry.azurecr.io/app:1",
            "ports": [{"containerPort": 443}],
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "securityContext": {"privileged": false}
        }]}
    })
}

/// The reference's five-violation pod: nginx image, port 80, privileged, no limits, one label.
pub fn privileged_pod(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"test1": "a"}},
        "spec": {"containers": [{
            "name": "nginx", "image": "nginx:1.17",
            "ports": [{"containerPort": 80}],
            "securityContext": {"privileged": true}
        }]}
    })
}

/// An AdmissionReview (v1) creating `object` (a resource in the core group unless `group` is given).
pub fn review_for(uid: &str, resource: &str, group: &str, object: &Value) -> Value {
    let (version, kind) =
        (object["apiVersion"].as_str().unwrap_or("v1").rsplit('/').next().unwrap().to_string(), object["kind"].clone());
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "namespace": object["metadata"]["namespace"],
            "name": object["metadata"]["name"],
            "operation": "CREATE",
            "userInfo": {"username": "admin", "groups": ["system:masters"]},
            "object": object,
        }
    })
}
