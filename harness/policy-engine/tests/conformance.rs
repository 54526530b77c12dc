//! A conformance table of Gatekeeper v2 behaviour over our nine built-ins: for each, objects that are
//! allowed and denied, with the exact messages.

mod common;

use common::*;
use serde_json::{Value, json};

enum Eval {
    /// Admission of `object` (resource, namespace, name) with `existing` replicated first.
    Admit { resource: &'static str, namespace: &'static str, name: &'static str, object: Value },
    /// Audit over `existing` only.
    Audit,
}

struct Case {
    name: &'static str,
    existing: Vec<(&'static str, &'static str, &'static str, Value)>,
    eval: Eval,
    /// (policyId, detail) of every expected violation.
    expected: Vec<(&'static str, String)>,
}

fn bad_pod(namespace: &str) -> Value {
    pod(
        namespace,
        "web",
        json!({"test1": "x"}),
        json!([{
            "name": "nginx", "image": "nginx:1.17", "ports": [{"containerPort": 80}],
            "securityContext": {"privileged": true},
        }]),
    )
}

fn cases() -> Vec<Case> {
    let admit_pod = |object: Value| Eval::Admit { resource: "pods", namespace: "team", name: "web", object };
    let mut generate_name_pod = pod("team", "", json!({}), json!([good_container("c")]));
    generate_name_pod["metadata"] = json!({"generateName": "web-", "namespace": "team"});
    let port_8080 = |name: &str| {
        let mut c = good_container(name);
        c["ports"] = json!([{"containerPort": 8080}]);
        c
    };
    let mut resources_empty = good_container("app");
    resources_empty["resources"] = json!({});
    let mut security_empty = good_container("app");
    security_empty["securityContext"] = json!({});
    let mut init_only = pod("team", "web", good_labels(), json!([]));
    init_only["spec"] =
        json!({"initContainers": [{"name": "init", "image": "nginx", "securityContext": {"privileged": true}}]});

    vec![
        Case {
            name: "non-compliant pod: five violations",
            existing: vec![],
            eval: admit_pod(bad_pod("team")),
            expected: vec![
                ("ContainerResourceLimits", "CPU and memory resource limits are not defined for container \"nginx\"".into()),
                ("ContainerAllowedImages", "container image \"nginx:1.17\" is not allowed.".into()),
                ("ContainerAllowedPorts", "container port 80 for container nginx is not allowed.".into()),
                ("ContainerNoPrivilege", "setting privileged flag to true is not allowed for container nginx".into()),
                ("PodEnforceLabels", "required label test2 is missing for pod: web".into()),
            ],
        },
        Case {
            name: "same pod in kube-system",
            existing: vec![],
            eval: Eval::Admit { resource: "pods", namespace: "kube-system", name: "web", object: bad_pod("kube-system") },
            expected: vec![],
        },
        Case {
            name: "compliant pod",
            existing: vec![],
            eval: admit_pod(pod("team", "web", good_labels(), json!([good_container("app")]))),
            expected: vec![],
        },
        Case { name: "only a bad initContainer", existing: vec![], eval: admit_pod(init_only), expected: vec![] },
        Case {
            name: "resources: {}",
            existing: vec![],
            eval: admit_pod(pod("team", "web", good_labels(), json!([resources_empty]))),
            expected: vec![("ContainerResourceLimits", "CPU and memory resource limits are not defined for container \"app\"".into())],
        },
        Case {
            name: "securityContext: {}",
            existing: vec![],
            eval: admit_pod(pod("team", "web", good_labels(), json!([security_empty]))),
            expected: vec![],
        },
        Case {
            name: "generateName only, labels missing",
            existing: vec![],
            eval: Eval::Admit { resource: "pods", namespace: "team", name: "", object: generate_name_pod },
            expected: vec![],
        },
        Case {
            name: "two containers exposing 8080",
            existing: vec![],
            eval: admit_pod(pod("team", "web", good_labels(), json!([port_8080("a"), port_8080("b")]))),
            expected: vec![
                ("ContainerAllowedPorts", "container port 8080 for container a is not allowed.".into()),
                ("ContainerAllowedPorts", "container port 8080 for container b is not allowed.".into()),
            ],
        },
        Case {
            name: "public LoadBalancer on port 80",
            existing: vec![],
            eval: Eval::Admit { resource: "services", namespace: "team", name: "lb", object: service("team", "lb", json!({}), json!({"type": "LoadBalancer", "ports": [{"port": 80}]})) },
            expected: vec![
                ("LoadBalancersInternal", "loadbalancers should not have public ips. azure-load-balancer-internal annotation is required for lb".into()),
                ("ServiceAllowedPorts", "port 80 for service lb is not allowed.".into()),
            ],
        },
        Case {
            name: "internal LoadBalancer on 443",
            existing: vec![],
            eval: Eval::Admit { resource: "services", namespace: "team", name: "lb", object: service("team", "lb", json!({"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}), json!({"type": "LoadBalancer", "ports": [{"port": 443}]})) },
            expected: vec![],
        },
        Case {
            name: "service without spec.type",
            existing: vec![],
            eval: Eval::Admit { resource: "services", namespace: "team", name: "svc", object: service("team", "svc", json!({}), json!({"ports": [{"port": 443}]})) },
            expected: vec![("LoadBalancersInternal", "loadbalancers should not have public ips. azure-load-balancer-internal annotation is required for svc".into())],
        },
        Case {
            name: "ingress without TLS",
            existing: vec![],
            eval: Eval::Admit { resource: "ingresses", namespace: "team", name: "web", object: ingress("team", "web", &["web.example.com"], false) },
            expected: vec![("HttpsIngressOnly", "ingress should be https. tls configuration and allow-http=false annotation are required for web".into())],
        },
        Case {
            name: "host conflict from kube-system (no exclusion)",
            existing: vec![("ingresses", "other", "i0", ingress("other", "i0", &["a.example.com"], true))],
            eval: Eval::Admit { resource: "ingresses", namespace: "kube-system", name: "i1", object: ingress("kube-system", "i1", &["a.example.com"], true) },
            expected: vec![("UniqueIngressHostnames", "ingress host conflicts with an existing ingress i0 in the other namespace".into())],
        },
        Case {
            name: "same ingress name in another namespace",
            existing: vec![("ingresses", "other", "i0", ingress("other", "i0", &["a.example.com"], true))],
            eval: Eval::Admit { resource: "ingresses", namespace: "team", name: "i0", object: ingress("team", "i0", &["a.example.com"], true) },
            expected: vec![],
        },
        Case {
            name: "audit of a replicated pod",
            existing: vec![("pods", "team", "p9", pod("team", "p9", json!({}), json!([{"name": "c", "image": "nginx"}])))],
            eval: Eval::Audit,
            expected: vec![
                ("ContainerAllowedImages", "container image \"nginx\" is not allowed.".into()),
                ("ContainerResourceLimits", "CPU and memory resource limits are not defined for container \"c\"".into()),
                ("PodEnforceLabels", "required label test1 is missing for pod: p9".into()),
                ("PodEnforceLabels", "required label test2 is missing for pod: p9".into()),
            ],
        },
    ]
}

#[test]
fn conformance_table() {
    for case in cases() {
        let mut engine = engine();
        for (plural, ns, name, obj) in &case.existing {
            engine.upsert_object(plural, Some(ns), name, obj.clone());
        }
        let violations = match &case.eval {
            Eval::Admit { resource, namespace, name, object } => {
                engine.admit(&create(resource, namespace, name, object.clone()))
            }
            Eval::Audit => engine.audit(),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let expected = sorted(case.expected.iter().map(|(p, d)| message(p, d)).collect());
        assert_eq!(messages(&violations), expected, "case: {}", case.name);
        for v in &violations {
            assert!(v.id.starts_with("/subscriptions/"), "{}: id {}", case.name, v.id);
            if let Eval::Admit { resource, namespace, .. } = &case.eval {
                assert_eq!((&v.resource.kind, &v.resource.namespace), (&resource.to_string(), &namespace.to_string()));
            }
        }
        if let Eval::Audit = case.eval {
            assert!(
                violations
                    .iter()
                    .all(|v| v.resource.kind == "pods" && v.resource.namespace == "team" && v.resource.name == "p9")
            );
        }
    }
}
