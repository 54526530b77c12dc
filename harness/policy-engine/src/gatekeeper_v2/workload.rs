//! A synthetic cluster and admission traffic for the in-process benchmarks (`harness bench`).
//!
//! Deterministic (no RNG): object `i` is always the same, so runs are comparable. The mix is what a
//! busy 2019 cluster looked like to kube-mgmt: mostly pods, some services and ingresses, namespaces.

use serde_json::{Value, json};

use crate::gatekeeper_v2::builtins::BUILTINS;
use crate::{ModuleError, PolicyEngine, fill_placeholders};

/// Parameter values used for the built-ins (the reference's examples).
pub fn example_params() -> serde_json::Map<String, Value> {
    json!({
        "allowedContainerImagesRegex": "^.+azurecr.io/.+$",
        "allowedContainerPortsRegex": "^(443|446)$",
        "allowedServicePortsRegex": "^(443|446)$",
        "commaSeparatedListOfLabels": "test1,test2",
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// Load the nine built-ins, each as if assigned with id `.../policyAssignments/<policyId>`.
pub fn load_builtins(engine: &mut PolicyEngine) -> Result<(), ModuleError> {
    let params = example_params();
    for b in &BUILTINS {
        let id = format!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyAssignments/{}",
            b.policy_id
        );
        let rego = fill_placeholders(b.source, &id, &params).map_err(|e| ModuleError {
            id: b.file.to_string(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        engine.upsert_module(&format!("azure-policy/{}/policy.rego", b.policy_id), &rego)?;
    }
    Ok(())
}

const NAMESPACES: usize = 50;

fn namespace_of(i: usize) -> String {
    format!("ns-{}", i % NAMESPACES)
}

/// Object number `i`: (plural, namespace, name, object). About 80 % pods, 12 % services, 6 %
/// ingresses; a third of them violate something.
pub fn object(i: usize) -> (&'static str, Option<String>, String, Value) {
    let ns = namespace_of(i);
    let bad = i.is_multiple_of(3);
    match i % 50 {
        0..=39 => {
            let name = format!("pod-{i}");
            let image = if bad { "nginx:1.17".to_string() } else { format!("contoso.azurecr.io/app-{}:1", i % 7) };
            let obj = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": {"test1": "a", "test2": "b", "app": format!("app-{}", i % 7)}},
                "spec": {"containers": [{
                    "name": "app", "image": image,
                    "ports": [{"containerPort": if bad { 80 } else { 443 }}],
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "10m"}},
                }, {
                    "name": "sidecar", "image": "contoso.azurecr.io/sidecar:2",
                    "resources": {"limits": {"cpu": "50m", "memory": "32Mi"}},
                }]},
            });
            ("pods", Some(ns), name, obj)
        }
        40..=45 => {
            let name = format!("svc-{i}");
            let obj = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"type": if bad { "LoadBalancer" } else { "ClusterIP" }, "ports": [{"port": 443}]},
            });
            ("services", Some(ns), name, obj)
        }
        46..=48 => {
            let name = format!("ing-{i}");
            let obj = json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": name, "namespace": ns, "annotations": {"kubernetes.io/ingress.allow-http": "false"}},
                "spec": {"tls": [{"hosts": [format!("{name}.example.com")]}], "rules": [{"host": format!("{name}.example.com")}]},
            });
            ("ingresses", Some(ns), name, obj)
        }
        _ => {
            let name = format!("ns-extra-{i}");
            (
                "namespaces",
                None,
                name.clone(),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            )
        }
    }
}

/// Replicate objects `0..count`.
pub fn populate(engine: &mut PolicyEngine, count: usize) {
    for i in 0..count {
        let (plural, ns, name, obj) = object(i);
        engine.upsert_object(plural, ns.as_deref(), &name, obj);
    }
}

/// AdmissionReview (v1) number `i` of the benchmark traffic: CREATEs of new objects and UPDATEs of
/// replicated ones, in the same kind mix as the cluster.
pub fn review(i: usize, replicated: usize) -> Value {
    let update = i.is_multiple_of(4) && replicated > 0;
    let n = if update { (i * 7919) % replicated } else { replicated + i };
    let (plural, ns, name, obj) = object(n);
    let kind = obj["kind"].clone();
    let (group, version) = if plural == "ingresses" { ("networking.k8s.io", "v1") } else { ("", "v1") };
    let mut request = json!({
        "uid": format!("00000000-0000-0000-0000-{i:012}"),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": plural},
        "name": name,
        "operation": if update { "UPDATE" } else { "CREATE" },
        "userInfo": {"username": "bench", "groups": ["system:authenticated"]},
        "object": obj,
    });
    if let Some(ns) = ns {
        request["namespace"] = json!(ns);
    }
    if update {
        request["oldObject"] = request["object"].clone();
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}
