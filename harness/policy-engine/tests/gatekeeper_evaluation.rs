//! The Gatekeeper v3 [`PolicyClient`]: reviews, audits, parameters, enforcement points and
//! `data.inventory`, with small templates written for each behaviour.

use std::path::PathBuf;

use policy_engine::gatekeeper_v3::{
    Constraint, ConstraintTemplate, GatekeeperError, PolicyClient, Review, Violation, enforcement_point,
};
use serde_json::{Value, json};

fn template(kind: &str, rego: &str, schema: Value) -> ConstraintTemplate {
    let value = json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {
            "crd": {"spec": {"names": {"kind": kind}, "validation": {"openAPIV3Schema": schema}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}],
        }
    });
    ConstraintTemplate::from_value(&value, &format!("{kind}.yaml")).unwrap()
}

fn constraint(kind: &str, name: &str, spec: Value) -> Constraint {
    let value = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind, "metadata": {"name": name}, "spec": spec});
    Constraint::from_value(&value, &format!("{name}.yaml")).unwrap()
}

fn pod(name: &str, ns: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
           "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
}

fn client_with(kind: &str, rego: &str, spec: Value) -> PolicyClient {
    let mut client = PolicyClient::new();
    client.add_template(template(kind, rego, json!({"type": "object"}))).unwrap();
    client.add_constraint(constraint(kind, "c", spec)).unwrap();
    client
}

fn review_object(client: &PolicyClient, object: Value) -> Vec<Violation> {
    client.review(&Review::from_object(object, "obj").unwrap(), enforcement_point::AUDIT).unwrap()
}

const LABEL_REGO: &str = r#"package anything

violation[{"msg": msg, "details": {"missing": "owner"}}] {
  not input.review.object.metadata.labels.owner
  msg := sprintf("%v needs an owner", [input.review.object.metadata.name])
}
"#;

#[test]
fn a_matching_constraint_reports_msg_details_and_resource() {
    let client = client_with("K8sOwner", LABEL_REGO, json!({}));
    let found = review_object(&client, pod("p", "ns", json!({})));
    assert_eq!(found.len(), 1);
    let v = &found[0];
    assert_eq!((v.constraint.as_str(), v.kind.as_str(), v.enforcement_action.as_str()), ("c", "K8sOwner", "deny"));
    assert_eq!(v.msg, "p needs an owner");
    assert_eq!(v.details, json!({"missing": "owner"}));
    assert_eq!((v.resource.kind.as_str(), v.resource.name.as_str()), ("Pod", "p"));
    assert_eq!(v.resource.namespace.as_deref(), Some("ns"));
    assert!(review_object(&client, pod("p", "ns", json!({"owner": "me"}))).is_empty());
}

#[test]
fn spec_match_filters_before_evaluation() {
    let client =
        client_with("K8sOwner", LABEL_REGO, json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["Service"]}]}}));
    assert!(review_object(&client, pod("p", "ns", json!({}))).is_empty());
    let client = client_with("K8sOwner", LABEL_REGO, json!({"match": {"excludedNamespaces": ["kube-*"]}}));
    assert!(review_object(&client, pod("p", "kube-system", json!({}))).is_empty());
    assert_eq!(review_object(&client, pod("p", "team", json!({}))).len(), 1);
}

#[test]
fn identical_results_collapse_and_details_default_to_an_empty_object() {
    let rego = r#"package x

violation[{"msg": "same"}] {
  input.review.object.spec.containers[_]
}

violation[{"msg": "same"}] {
  input.review.object.metadata.name
}
"#;
    let client = client_with("K8sSame", rego, json!({}));
    let mut p = pod("p", "ns", json!({}));
    p["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
    let found = review_object(&client, p);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].details, json!({}));
}

#[test]
fn a_builtin_error_makes_the_expression_undefined() {
    let rego = r#"package x

violation[{"msg": "parsed"}] {
  to_number(input.review.object.metadata.labels.n) > 1
}

violation[{"msg": "not a number"}] {
  not to_number(input.review.object.metadata.labels.n)
}
"#;
    let client = client_with("K8sNumber", rego, json!({}));
    let msgs = |labels| review_object(&client, pod("p", "ns", labels)).into_iter().map(|v| v.msg).collect::<Vec<_>>();
    assert_eq!(msgs(json!({"n": "5"})), vec!["parsed"]);
    // OPA: the erroring call is undefined, so the first rule fails and `not` succeeds.
    assert_eq!(msgs(json!({"n": "abc"})), vec!["not a number"]);
}

#[test]
fn parameters_reach_the_template_and_are_absent_when_unset() {
    let rego = r#"package x

violation[{"msg": msg}] {
  msg := sprintf("limit %v", [input.parameters.limit])
}

violation[{"msg": "no parameters"}] {
  not input.parameters
}
"#;
    let schema = json!({"type": "object", "properties": {"limit": {"type": "integer"}}});
    let mut client = PolicyClient::new();
    client.add_template(template("K8sLimit", rego, schema)).unwrap();
    client.add_constraint(constraint("K8sLimit", "with", json!({"parameters": {"limit": 3}}))).unwrap();
    client.add_constraint(constraint("K8sLimit", "without", json!({}))).unwrap();
    let found = review_object(&client, pod("p", "ns", json!({})));
    let pairs: Vec<(&str, &str)> = found.iter().map(|v| (v.constraint.as_str(), v.msg.as_str())).collect();
    assert_eq!(pairs, vec![("with", "limit 3"), ("without", "no parameters")]);

    let err = client.add_constraint(constraint("K8sLimit", "bad", json!({"parameters": {"limit": "x"}}))).unwrap_err();
    assert!(matches!(&err, GatekeeperError::Parameters { constraint, .. } if constraint == "bad"), "{err}");
    assert_eq!(client.constraints().count(), 2);
}

#[test]
fn a_constraint_needs_a_template_of_its_kind() {
    let mut client = PolicyClient::new();
    let err = client.add_constraint(constraint("K8sNothing", "c", json!({}))).unwrap_err();
    assert_eq!(err.to_string(), "c.yaml: constraint c: no template defines kind K8sNothing");
}

#[test]
fn removing_a_template_removes_its_constraints() {
    let mut client = client_with("K8sOwner", LABEL_REGO, json!({}));
    assert!(client.remove_template("k8sowner"));
    assert!(!client.remove_template("k8sowner"));
    assert_eq!(client.constraints().count(), 0);
    assert!(review_object(&client, pod("p", "ns", json!({}))).is_empty());
}

#[test]
fn a_delete_reviews_the_old_object() {
    let client = client_with("K8sOwner", LABEL_REGO, json!({}));
    let request = json!({"uid": "1", "operation": "DELETE", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                          "name": "old", "namespace": "ns", "object": null, "oldObject": pod("old", "ns", json!({}))});
    let review = Review::from_admission_request(request, "req").unwrap();
    let found = client.review(&review, enforcement_point::WEBHOOK).unwrap();
    assert_eq!(found.iter().map(|v| v.msg.as_str()).collect::<Vec<_>>(), vec!["old needs an owner"]);
}

#[test]
fn scoped_actions_apply_per_enforcement_point() {
    let spec = json!({"enforcementAction": "scoped", "scopedEnforcementActions": [
        {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
        {"action": "deny", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
        {"action": "dryrun", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]},
    ]});
    let client = client_with("K8sOwner", LABEL_REGO, spec);
    let review = Review::from_object(pod("p", "ns", json!({})), "p").unwrap();
    let actions =
        |point| client.review(&review, point).unwrap().into_iter().map(|v| v.enforcement_action).collect::<Vec<_>>();
    assert_eq!(actions(enforcement_point::WEBHOOK), vec!["warn", "deny"]);
    assert_eq!(actions(enforcement_point::AUDIT), vec!["dryrun"]);
    assert!(actions(enforcement_point::GATOR).is_empty());
}

const UNIQUE_NAME_REGO: &str = r#"package x

violation[{"msg": msg}] {
  name := input.review.object.metadata.name
  other := data.inventory.namespace[ns][_]["Pod"][name]
  ns != input.review.object.metadata.namespace
  msg := sprintf("name %v also used in %v", [name, ns])
}

violation[{"msg": msg}] {
  data.inventory.cluster["v1"]["Namespace"][input.review.object.metadata.namespace].metadata.labels.frozen
  msg := "namespace is frozen"
}
"#;

#[test]
fn referential_templates_read_the_inventory_of_their_snapshot() {
    let mut client = client_with("K8sUnique", UNIQUE_NAME_REGO, json!({}));
    let msgs = |client: &PolicyClient| {
        review_object(client, pod("web", "a", json!({}))).into_iter().map(|v| v.msg).collect::<Vec<_>>()
    };
    assert!(msgs(&client).is_empty());
    client.inventory_mut().upsert(pod("web", "b", json!({})), "inv").unwrap();
    let before = client.clone();
    client
        .inventory_mut()
        .upsert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"frozen": "yes"}}}),
            "inv",
        )
        .unwrap();
    assert_eq!(msgs(&before), vec!["name web also used in b"]);
    assert_eq!(msgs(&client), vec!["name web also used in b", "namespace is frozen"]);
    assert!(client.inventory_mut().remove("v1", "Pod", Some("b"), "web"));
    assert_eq!(msgs(&client), vec!["namespace is frozen"]);
    assert_eq!(msgs(&before), vec!["name web also used in b"], "an older clone keeps its snapshot");
}

#[test]
fn the_namespace_object_comes_from_the_inventory_for_namespace_selectors() {
    let spec = json!({"match": {"namespaceSelector": {"matchLabels": {"policy": "on"}}}});
    let mut client = client_with("K8sOwner", LABEL_REGO, spec);
    let review = Review::from_object(pod("p", "team", json!({})), "p").unwrap();
    // Without the Namespace the match cannot be decided: Gatekeeper reports that as a result of the
    // constraint (gator's wording), not as an error of the whole review.
    let undecided = client.review(&review, enforcement_point::AUDIT).unwrap();
    assert_eq!(undecided.len(), 1);
    assert!(undecided[0].msg.ends_with("namespace selector for namespace-scoped object but missing Namespace"));
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"policy": "on"}}});
    client.inventory_mut().upsert(ns, "ns").unwrap();
    assert_eq!(client.review(&review, enforcement_point::AUDIT).unwrap().len(), 1);
}

#[test]
fn audit_reviews_every_inventory_object_as_a_bare_object() {
    let rego = r#"package x

violation[{"msg": msg}] {
  not input.review.userInfo.username
  not input.review.object.metadata.labels.owner
  msg := sprintf("%v/%v", [input.review.kind.kind, input.review.name])
}
"#;
    let mut client = client_with("K8sOwner", rego, json!({"enforcementAction": "dryrun"}));
    for (i, labels) in [json!({}), json!({"owner": "x"}), json!({})].into_iter().enumerate() {
        client.inventory_mut().upsert(pod(&format!("p{i}"), "ns", labels), "inv").unwrap();
    }
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}});
    client.inventory_mut().upsert(namespace, "inv").unwrap();
    let found = client.audit().unwrap();
    let mut msgs: Vec<(String, String)> = found.into_iter().map(|v| (v.msg, v.enforcement_action)).collect();
    msgs.sort();
    let expected = [("Namespace/ns", "dryrun"), ("Pod/p0", "dryrun"), ("Pod/p2", "dryrun")];
    assert_eq!(msgs, expected.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn an_evaluation_error_is_reported_for_the_webhook_to_fail_open() {
    let rego = r#"package x

f(a) = 1 { a }
f(a) = 2 { a }

violation[{"msg": msg}] {
  msg := sprintf("%v", [f(true)])
}
"#;
    let client = client_with("K8sConflict", rego, json!({}));
    let err = client.review(&Review::from_object(pod("p", "ns", json!({})), "p").unwrap(), enforcement_point::WEBHOOK);
    assert!(matches!(err, Err(GatekeeperError::Eval { .. })), "{err:?}");
}

#[test]
fn the_client_is_a_cheap_shareable_snapshot() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<PolicyClient>();
    let client = client_with("K8sOwner", LABEL_REGO, json!({}));
    let clone = client.clone();
    let handle = std::thread::spawn(move || review_object(&clone, pod("p", "ns", json!({}))).len());
    assert_eq!(handle.join().unwrap(), 1);
}

fn library(slug: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy-library/templates").join(slug);
    std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).find(|p| p.is_dir()).unwrap()
}

#[test]
fn the_library_ingress_conflict_template_finds_synced_hosts() {
    let dir = library("ingress-hostnames-conflict");
    let mut client = PolicyClient::new();
    client.add_template(ConstraintTemplate::from_file(&dir.join("template.yaml")).unwrap()).unwrap();
    for c in Constraint::from_file(&dir.join("constraint.yaml")).unwrap() {
        client.add_constraint(c).unwrap();
    }
    let ingress = |name: &str, ns: &str, host: &str| {
        json!({"apiVersion": "networking.k8s.io/v1beta1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns},
               "spec": {"rules": [{"host": host}]}})
    };
    client.inventory_mut().upsert(ingress("a", "one", "x.example.com"), "inv").unwrap();
    client.inventory_mut().upsert(ingress("b", "two", "y.example.com"), "inv").unwrap();
    let conflicting = review_object(&client, ingress("c", "three", "x.example.com"));
    assert_eq!(conflicting.len(), 1, "{conflicting:?}");
    assert!(conflicting[0].msg.contains("x.example.com"), "{}", conflicting[0].msg);
    assert!(review_object(&client, ingress("c", "three", "z.example.com")).is_empty());
    // The synced object itself does not conflict with itself.
    assert!(review_object(&client, ingress("a", "one", "x.example.com")).is_empty());
    let audit = client.audit().unwrap();
    assert!(audit.is_empty(), "{audit:?}");
}

#[test]
fn reused_results_keep_each_object_and_follow_parameter_changes() {
    // Reads only the containers and the parameters: equal pods share one evaluation.
    let rego = r#"package x

violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  c.image == input.parameters.banned
  msg := sprintf("banned image %v", [c.image])
}
"#;
    let schema = json!({"type": "object", "properties": {"banned": {"type": "string"}}});
    let mut client = PolicyClient::new();
    client.add_template(template("K8sBanned", rego, schema)).unwrap();
    client.add_constraint(constraint("K8sBanned", "c", json!({"parameters": {"banned": "nginx"}}))).unwrap();
    let names = |client: &PolicyClient| {
        ["a", "b"].map(|n| {
            review_object(client, pod(n, "ns", json!({}))).into_iter().map(|v| v.resource.name).collect::<Vec<_>>()
        })
    };
    assert_eq!(names(&client), [vec!["a".to_string()], vec!["b".to_string()]]);
    client.add_constraint(constraint("K8sBanned", "c", json!({"parameters": {"banned": "other"}}))).unwrap();
    assert_eq!(names(&client), [Vec::<String>::new(), vec![]]);
    let mut other = pod("a", "ns", json!({}));
    other["spec"]["containers"][0]["image"] = json!("other");
    assert_eq!(review_object(&client, other).len(), 1);
}
