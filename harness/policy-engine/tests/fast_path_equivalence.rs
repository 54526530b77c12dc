//! The fast paths (kind slices, subjects bound to the reviewed object, indexed joins) give exactly
//! the verdicts of Gatekeeper's literal query over the whole tree (`admit_reference`,
//! `audit_reference`), over many random clusters and requests. Names, namespaces and hosts come from small pools so that objects of
//! different kinds share paths, ingresses share hosts, and updates hit replicated objects.

mod common;

use policy_engine::PolicyEngine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const NAMESPACES: [&str; 4] = ["team", "other", "kube-system", "default"];
const NAMES: [&str; 4] = ["a", "b", "web", "db"];
const HOSTS: [&str; 3] = ["a.example.com", "b.example.com", "c.example.com"];
const KINDS: [&str; 4] = ["pods", "services", "ingresses", "namespaces"];

/// Modules beyond the built-ins whose subjects the fast path must leave alone or bind carefully.
const EXTRA_MODULES: [(&str, &str); 6] = [
    // Cluster-scoped: `matches` over namespaces yields one tuple per field of the object at a path,
    // so an UPDATE must drop every tuple of the stored object and add the request's.
    (
        "extra/namespaces/policy.rego",
        r#"package admission
import data.k8s.matches
deny[{"id": "ns", "resource": {"kind": "namespaces", "name": n}, "resolution": {"message": msg}}] {
    matches[["namespaces", n, field, value]]
    msg := sprintf("%v", [field])
}
"#,
    ),
    // The head reports a service while the tuple is a pod: not a subject.
    (
        "extra/cross-kind/policy.rego",
        r#"package admission
import data.k8s.matches
deny[{"id": "cross", "resource": {"kind": "services", "namespace": ns, "name": n}, "resolution": {"message": "pod twin"}}] {
    matches[["pods", ns, n, p]]
    p.spec
}
"#,
    ),
    // Two subjects of one rule plus a referential lookup of another kind.
    (
        "extra/twice/policy.rego",
        r#"package admission
import data.k8s.matches
deny[{"id": "twice", "resource": {"kind": "pods", "namespace": ns, "name": n}, "resolution": {"message": msg}}] {
    matches[["pods", ns, n, p]]
    matches[["pods", ns, n, q]]
    matches[["services", ns, other, s]]
    p.spec.containers[_].image == q.spec.containers[_].image
    msg := sprintf("service %v shares namespace", [other])
}
"#,
    ),
    // An indexed join on numbers, written the other way round, with a literal namespace. It can
    // match the reviewed service itself, so an update must swap the stored object's index entries
    // for the request's (the message shows which one matched).
    (
        "extra/port-twin/policy.rego",
        r#"package admission
import data.k8s.matches
deny[{"id": "port-twin", "resource": {"kind": "services", "namespace": ns, "name": n}, "resolution": {"message": msg}}] {
    matches[["services", ns, n, s]]
    port := s.spec.ports[_].port
    matches[["services", "team", other, o]]
    port == o.spec.ports[_].port
    msg := sprintf("port %v is also used by team/%v (%v)", [port, other, o.spec.type])
}
"#,
    ),
    // Indexed in the audit, a subject in admission.
    (
        "extra/image-index/policy.rego",
        r#"package admission
import data.k8s.matches
deny[{"id": "image-index", "resource": {"kind": "pods", "namespace": ns, "name": n}, "resolution": {"message": "nginx"}}] {
    image := "nginx:1.17"
    matches[["pods", ns, n, p]]
    p.spec.containers[_].image == image
}
"#,
    ),
    // A negated lookup of the reviewed path: must see the full `matches`.
    (
        "extra/negated/policy.rego",
        r#"package admission
import data.k8s.matches
deny[{"id": "negated", "resource": {"kind": "ingresses", "namespace": ns, "name": n}, "resolution": {"message": "no pod twin"}}] {
    matches[["ingresses", ns, n, i]]
    not matches[["pods", ns, n, i]]
}
"#,
    ),
];

fn pick<'a>(rng: &mut StdRng, pool: &[&'a str]) -> &'a str {
    pool[rng.random_range(0..pool.len())]
}

fn random_object(rng: &mut StdRng, kind: &str, namespace: &str, name: &str) -> Value {
    match kind {
        "pods" => {
            let containers: Vec<Value> = (0..rng.random_range(0..3))
                .map(|i| {
                    let mut c = json!({"name": format!("c{i}"), "image": pick(rng, &["nginx:1.17", "contoso.azurecr.io/app:1"])});
                    if rng.random_bool(0.5) {
                        c["ports"] = json!([{"containerPort": pick(rng, &["80", "443"]).parse::<u16>().unwrap()}]);
                    }
                    if rng.random_bool(0.5) {
                        c["resources"] = json!({"limits": {"cpu": "1", "memory": "1Mi"}});
                    }
                    if rng.random_bool(0.3) {
                        c["securityContext"] = json!({"privileged": rng.random_bool(0.5)});
                    }
                    c
                })
                .collect();
            let labels = if rng.random_bool(0.5) { json!({"test1": "x", "test2": "y"}) } else { json!({"test1": "x"}) };
            json!({"kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {"containers": containers}})
        }
        "services" => json!({
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": pick(rng, &["LoadBalancer", "ClusterIP"]), "ports": [{"port": pick(rng, &["80", "443"]).parse::<u16>().unwrap()}]},
        }),
        "ingresses" => {
            let rules: Vec<Value> = (0..rng.random_range(1..3)).map(|_| json!({"host": pick(rng, &HOSTS)})).collect();
            let tls = if rng.random_bool(0.5) { json!([{"hosts": ["x"]}]) } else { json!([]) };
            json!({
                "kind": "Ingress",
                "metadata": {"name": name, "namespace": namespace, "annotations": {"kubernetes.io/ingress.allow-http": "false"}},
                "spec": {"rules": rules, "tls": tls},
            })
        }
        _ => json!({"kind": "Namespace", "metadata": {"name": name}}),
    }
}

fn random_cluster(rng: &mut StdRng) -> PolicyEngine {
    let mut engine = common::engine();
    for (id, source) in EXTRA_MODULES {
        engine.upsert_module(id, source).expect("extra module compiles");
    }
    for _ in 0..rng.random_range(0..40) {
        let (kind, namespace, name) = (pick(rng, &KINDS), pick(rng, &NAMESPACES), pick(rng, &NAMES));
        let object = random_object(rng, kind, namespace, name);
        let namespace = (kind != "namespaces").then_some(namespace);
        engine.upsert_object(kind, namespace, name, object);
    }
    engine
}

/// A CREATE or UPDATE with identifiers that need Gatekeeper's normalisation now and then.
fn random_request(rng: &mut StdRng) -> Value {
    let (kind, namespace, name) = (pick(rng, &KINDS), pick(rng, &NAMESPACES), pick(rng, &NAMES));
    let object = random_object(rng, kind, namespace, name);
    let mut request = common::create(kind, namespace, name, object);
    if rng.random_bool(0.2) {
        request["name"] = json!(format!(" {} ", name.to_uppercase()));
    }
    if rng.random_bool(0.1) {
        request["namespace"] = json!("");
    }
    if rng.random_bool(0.1) {
        request["object"] = json!({});
    }
    if rng.random_bool(0.3) {
        request["operation"] = json!("UPDATE");
    }
    request
}

#[test]
fn fast_paths_match_the_full_gatekeeper_query() {
    let (mut compared, mut denied, mut join_hits) = (0, 0, 0);
    for seed in 0..60 {
        let mut rng = StdRng::seed_from_u64(seed);
        let engine = random_cluster(&mut rng);
        for _ in 0..25 {
            let request = random_request(&mut rng);
            let fast = engine.admit(&request).map_err(|e| e.to_string());
            let full = engine.admit_reference(&request).map_err(|e| e.to_string());
            assert_eq!(fast, full, "seed {seed}, request {request}");
            compared += 1;
            denied += usize::from(full.is_ok_and(|v| !v.is_empty()));
        }
        let (fast, full) = (engine.audit(), engine.audit_reference());
        assert_eq!(fast, full, "audit, seed {seed}");
        for id in ["port-twin", "image-index"] {
            join_hits += usize::from(full.as_ref().is_ok_and(|v| v.iter().any(|v| v.id == id)));
        }
    }
    assert!(join_hits > 40, "the indexed joins found something in only {join_hits} audits");
    // The comparison means something only if both verdicts occur often.
    assert!(denied > compared / 5 && denied < compared * 9 / 10, "{denied} of {compared} denied");
}

#[test]
fn referential_conflicts_are_found_through_the_fast_path() {
    // Covers admissions and audits, with the indexes built before and after an update.
    let mut engine = common::engine();
    let ingress = |ns: &str, name: &str| json!({"kind": "Ingress", "metadata": {"name": name, "namespace": ns}, "spec": {"rules": [{"host": "a.example.com"}], "tls": [{}]}});
    engine.upsert_object("ingresses", Some("other"), "i0", ingress("other", "i0"));
    let request = common::create("ingresses", "kube-system", "i1", ingress("kube-system", "i1"));
    let fast = engine.admit(&request).unwrap();
    assert_eq!(fast, engine.admit_reference(&request).unwrap());
    assert!(fast.iter().any(|v| v.message.contains("existing ingress i0 in the other namespace")), "{fast:?}");
    assert_eq!(engine.audit().unwrap(), engine.audit_reference().unwrap());
    engine.upsert_object("ingresses", Some("kube-system"), "i1", ingress("kube-system", "i1"));
    let audit = engine.audit().unwrap();
    assert_eq!(audit, engine.audit_reference().unwrap());
    assert_eq!(audit.iter().filter(|v| v.message.contains("conflicts")).count(), 2, "{audit:?}");
}

#[test]
fn prepared_engines_reused_across_changes_still_match_the_reference() {
    // Each change re-prepares only the modules whose kinds changed; the rest is reused. A stale
    // reuse (say, the ingress index after an ingress update) shows up as a difference here.
    let mut changes = 0;
    for seed in 100..120 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut engine = random_cluster(&mut rng);
        for _ in 0..15 {
            let (kind, namespace, name) = (pick(&mut rng, &KINDS), pick(&mut rng, &NAMESPACES), pick(&mut rng, &NAMES));
            let scope = (kind != "namespaces").then_some(namespace);
            if rng.random_bool(0.25) {
                engine.remove_object(kind, scope, name);
            } else {
                let object = random_object(&mut rng, kind, namespace, name);
                engine.upsert_object(kind, scope, name, object);
            }
            changes += 1;
            assert_eq!(engine.audit(), engine.audit_reference(), "seed {seed}, after change {changes}");
            let request = random_request(&mut rng);
            assert_eq!(
                engine.admit(&request).map_err(|e| e.to_string()),
                engine.admit_reference(&request).map_err(|e| e.to_string()),
                "seed {seed}, {request}"
            );
        }
    }
}
