//! Allowed and denied examples for each of the nine built-ins, with exact messages.

mod common;

use common::*;
use serde_json::{Value, json};

struct Example {
    policy: &'static str,
    what: &'static str,
    resource: &'static str,
    namespace: &'static str,
    name: &'static str,
    object: Value,
    existing: Vec<(&'static str, &'static str, Value)>,
    /// Details of this policy's violations (other policies' are ignored).
    denied: Vec<&'static str>,
}

fn pod_with(namespace: &str, patch: impl Fn(&mut Value)) -> Value {
    let mut c = good_container("app");
    patch(&mut c);
    pod(namespace, "web", good_labels(), json!([c]))
}

fn examples() -> Vec<Example> {
    let ex = |policy, what, object: Value, denied: Vec<&'static str>| {
        let resource = match object["kind"].as_str() {
            Some("Pod") => "pods",
            Some("Service") => "services",
            _ => "ingresses",
        };
        let ns = if object["metadata"]["namespace"] == "kube-system" { "kube-system" } else { "team" };
        Example { policy, what, resource, namespace: ns, name: "web", object, existing: vec![], denied }
    };
    let svc = |ann: Value, spec: Value| service("team", "web", ann, spec);
    vec![
        ex("ContainerAllowedImages", "allowed registry", pod_with("team", |_| {}), vec![]),
        ex(
            "ContainerAllowedImages",
            "docker hub image",
            pod_with("team", |c| c["image"] = json!("nginx")),
            vec!["container image \"nginx\" is not allowed."],
        ),
        ex(
            "ContainerAllowedImages",
            "kube-system excluded",
            pod_with("kube-system", |c| c["image"] = json!("nginx")),
            vec![],
        ),
        ex("ContainerAllowedPorts", "port 443", pod_with("team", |_| {}), vec![]),
        ex("ContainerAllowedPorts", "no ports", pod_with("team", |c| c["ports"] = json!([])), vec![]),
        ex(
            "ContainerAllowedPorts",
            "port 4430 (anchored regex)",
            pod_with("team", |c| c["ports"] = json!([{"containerPort": 4430}])),
            vec!["container port 4430 for container app is not allowed."],
        ),
        ex(
            "ContainerNoPrivilege",
            "privileged false",
            pod_with("team", |c| c["securityContext"] = json!({"privileged": false})),
            vec![],
        ),
        ex(
            "ContainerNoPrivilege",
            "privileged true",
            pod_with("team", |c| c["securityContext"] = json!({"privileged": true})),
            vec!["setting privileged flag to true is not allowed for container app"],
        ),
        ex("ContainerResourceLimits", "cpu and memory", pod_with("team", |_| {}), vec![]),
        ex(
            "ContainerResourceLimits",
            "memory only",
            pod_with("team", |c| c["resources"] = json!({"limits": {"memory": "1Gi"}})),
            vec!["CPU and memory resource limits are not defined for container \"app\""],
        ),
        ex(
            "ContainerResourceLimits",
            "limits: {}",
            pod_with("team", |c| c["resources"] = json!({"limits": {}})),
            vec!["CPU and memory resource limits are not defined for container \"app\""],
        ),
        ex("PodEnforceLabels", "both labels", pod_with("team", |_| {}), vec![]),
        ex(
            "PodEnforceLabels",
            "no labels",
            pod("team", "web", json!({}), json!([good_container("app")])),
            vec!["required label test1 is missing for pod: web", "required label test2 is missing for pod: web"],
        ),
        ex(
            "LoadBalancersInternal",
            "ClusterIP",
            svc(json!({}), json!({"type": "ClusterIP", "ports": [{"port": 443}]})),
            vec![],
        ),
        ex(
            "LoadBalancersInternal",
            "internal annotation \"false\"",
            svc(
                json!({"service.beta.kubernetes.io/azure-load-balancer-internal": "false"}),
                json!({"type": "LoadBalancer", "ports": [{"port": 443}]}),
            ),
            vec![
                "loadbalancers should not have public ips. azure-load-balancer-internal annotation is required for web",
            ],
        ),
        ex(
            "ServiceAllowedPorts",
            "446",
            svc(json!({}), json!({"type": "ClusterIP", "ports": [{"port": 446}]})),
            vec![],
        ),
        ex(
            "ServiceAllowedPorts",
            "80 and 8080",
            svc(json!({}), json!({"type": "ClusterIP", "ports": [{"port": 80}, {"port": 8080}]})),
            vec!["port 80 for service web is not allowed.", "port 8080 for service web is not allowed."],
        ),
        ex("HttpsIngressOnly", "tls and allow-http false", ingress("team", "web", &["a.example.com"], true), vec![]),
        ex(
            "HttpsIngressOnly",
            "tls without annotation",
            {
                let mut i = ingress("team", "web", &["a.example.com"], true);
                i["metadata"]["annotations"] = json!({});
                i
            },
            vec!["ingress should be https. tls configuration and allow-http=false annotation are required for web"],
        ),
        Example {
            policy: "UniqueIngressHostnames",
            what: "different name, same namespace",
            resource: "ingresses",
            namespace: "team",
            name: "web",
            object: ingress("team", "web", &["a.example.com"], true),
            existing: vec![("team", "api", ingress("team", "api", &["a.example.com"], true))],
            denied: vec!["ingress host conflicts with an existing ingress api in the team namespace"],
        },
        Example {
            policy: "UniqueIngressHostnames",
            what: "distinct hosts",
            resource: "ingresses",
            namespace: "team",
            name: "web",
            object: ingress("team", "web", &["a.example.com"], true),
            existing: vec![("team", "api", ingress("team", "api", &["b.example.com"], true))],
            denied: vec![],
        },
    ]
}

#[test]
fn each_builtin_allows_and_denies_as_documented() {
    let base = engine();
    for ex in examples() {
        let mut engine = base.clone();
        for (ns, name, obj) in &ex.existing {
            engine.upsert_object("ingresses", Some(ns), name, obj.clone());
        }
        let violations = engine.admit(&create(ex.resource, ex.namespace, ex.name, ex.object.clone())).unwrap();
        let mine: Vec<_> = violations.into_iter().filter(|v| v.id == assignment(ex.policy)).collect();
        let expected = sorted(ex.denied.iter().map(|d| message(ex.policy, d)).collect());
        assert_eq!(messages(&mine), expected, "{}: {}", ex.policy, ex.what);
    }
}
