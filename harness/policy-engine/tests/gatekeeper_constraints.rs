//! Constraints of the Gatekeeper v3 engine: reading, `spec.match`, enforcement actions and
//! `spec.parameters` against a template schema. Expected behaviours were measured with gator
//! v3.23.1 (see the doc comments of `constraint.rs` and `parameters_schema.rs`).

use std::path::PathBuf;

use policy_engine::gatekeeper_v3::constraint::ScopedAction;
use policy_engine::gatekeeper_v3::enforcement_point::{AUDIT, GATOR, WEBHOOK};
use policy_engine::gatekeeper_v3::parameters_schema::validate;
use policy_engine::gatekeeper_v3::{Constraint, EnforcementAction, GatekeeperError, Review};
use serde_json::{Value, json};

fn constraint(spec: Value) -> Result<Constraint, GatekeeperError> {
    Constraint::from_value(
        &json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sProbe", "metadata": {"name": "probe"}, "spec": spec}),
        "c.yaml",
    )
}

fn with_match(m: Value) -> Constraint {
    constraint(json!({"match": m})).unwrap()
}

fn error(spec: Value) -> String {
    constraint(spec).unwrap_err().to_string()
}

fn pod(namespace: &str, name: &str, labels: Value) -> Review {
    Review::from_object(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels}}),
        "pod",
    )
    .unwrap()
}

fn namespace(name: &str, labels: Value) -> Review {
    Review::from_object(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
        "ns",
    )
    .unwrap()
}

fn cluster_role(name: &str) -> Review {
    Review::from_object(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}}),
        "cr",
    )
    .unwrap()
}

fn deployment(namespace: &str) -> Review {
    Review::from_object(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": namespace}}),
        "d",
    )
    .unwrap()
}

fn matches(c: &Constraint, r: &Review) -> bool {
    c.matches(r).unwrap()
}

// ---- reading ------------------------------------------------------------------------------

#[test]
fn a_minimal_constraint_denies_everything_without_parameters() {
    let c = constraint(json!(null)).unwrap();
    assert_eq!((c.kind.as_str(), c.name.as_str()), ("K8sProbe", "probe"));
    assert_eq!(c.enforcement_action, EnforcementAction::Deny);
    assert_eq!(c.parameters, None);
    assert!(matches(&c, &pod("a", "p", json!({}))));
    assert!(matches(&c, &cluster_role("r")));
    let c = constraint(json!({"parameters": {"x": 1}})).unwrap();
    assert_eq!(c.parameters, Some(json!({"x": 1})));
}

#[test]
fn api_version_kind_and_name_are_checked() {
    let read = |v: Value| Constraint::from_value(&v, "c.yaml").map_err(|e| e.to_string());
    let base = json!({"apiVersion": "constraints.gatekeeper.sh/v1", "kind": "K8sProbe", "metadata": {"name": "ok"}});
    assert!(read(base.clone()).is_ok());
    for version in ["v1alpha1", "v1beta1"] {
        let mut v = base.clone();
        v["apiVersion"] = json!(format!("constraints.gatekeeper.sh/{version}"));
        assert!(read(v).is_ok());
    }
    let mut v = base.clone();
    v["apiVersion"] = json!("constraints.gatekeeper.sh/v2");
    assert!(read(v).unwrap_err().starts_with("c.yaml: apiVersion: constraints.gatekeeper.sh/v1beta1, v1alpha1 or v1"));
    let mut v = base.clone();
    v["apiVersion"] = json!("templates.gatekeeper.sh/v1");
    assert!(read(v).is_err());
    let mut v = base.clone();
    v["kind"] = json!("");
    assert_eq!(read(v).unwrap_err(), "c.yaml: kind: a non-empty string: the template's kind");
    let mut v = base.clone();
    v["metadata"] = json!({});
    assert_eq!(read(v).unwrap_err(), "c.yaml: metadata.name: a non-empty string");
    let mut v = base.clone();
    v["metadata"]["name"] = json!("a".repeat(64));
    assert!(read(v).unwrap_err().starts_with("c.yaml: metadata.name: at most 63 characters, got 64"));
    let mut v = base.clone();
    v["metadata"]["name"] = json!("a".repeat(63));
    assert!(read(v).is_ok());
    let mut v = base;
    v["metadata"]["name"] = json!("Probe_X");
    assert!(read(v).unwrap_err().contains("metadata.name: a lowercase RFC 1123 subdomain"));
}

#[test]
fn unknown_and_mistyped_fields_name_their_path() {
    assert!(error(json!({"bogus": 1})).starts_with("c.yaml: spec.bogus: no such field"));
    assert!(error(json!({"match": {"bogus": 1}})).starts_with("c.yaml: spec.match.bogus: no such field"));
    assert_eq!(
        error(json!({"match": {"kinds": [{"apiGroups": ""}]}})),
        "c.yaml: spec.match.kinds[0].apiGroups: a list of strings"
    );
    assert_eq!(
        error(json!({"match": {"kinds": [{"kinds": ["Pod", 3]}]}})),
        "c.yaml: spec.match.kinds[0].kinds[1]: a string"
    );
    assert_eq!(error(json!({"match": {"kinds": {}}})), "c.yaml: spec.match.kinds: a list");
    assert_eq!(error(json!({"match": []})), "c.yaml: spec.match: an object");
    assert!(
        error(json!({"match": {"source": "Bogus"}}))
            .starts_with("c.yaml: spec.match.source: one of All, Generated, Original")
    );
    assert!(
        error(json!({"match": {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Foo"}]}}}))
            .starts_with("c.yaml: spec.match.namespaceSelector.matchExpressions[0].operator: one of In, NotIn, Exists, DoesNotExist")
    );
}

// ---- enforcement actions ------------------------------------------------------------------

#[test]
fn plain_actions_apply_at_every_point() {
    for (written, action) in [
        (json!(null), EnforcementAction::Deny),
        (json!(""), EnforcementAction::Deny),
        (json!("deny"), EnforcementAction::Deny),
        (json!("dryrun"), EnforcementAction::Dryrun),
        (json!("warn"), EnforcementAction::Warn),
    ] {
        let c = constraint(json!({"enforcementAction": written})).unwrap();
        assert_eq!(c.enforcement_action, action);
        for point in [WEBHOOK, AUDIT, GATOR, "anything"] {
            assert_eq!(c.actions_at(point), vec![action.as_str().to_string()]);
        }
    }
}

#[test]
fn actions_are_lowercase_and_unknown_ones_are_refused() {
    for bad in ["Deny", "DENY", "bogus", "Warn"] {
        let err = error(json!({"enforcementAction": bad}));
        assert_eq!(
            err,
            format!(
                "c.yaml: spec.enforcementAction: one of deny, dryrun, warn, scoped (lowercase; absent means deny), got {bad:?}"
            )
        );
    }
    assert_eq!(
        error(json!({"enforcementAction": 5})),
        "c.yaml: spec.enforcementAction: a string: deny, dryrun, warn or scoped"
    );
}

#[test]
fn scoped_actions_apply_where_their_points_say() {
    let c = constraint(json!({"enforcementAction": "scoped", "scopedEnforcementActions": [
        {"action": "warn", "enforcementPoints": [{"name": WEBHOOK}, {"name": GATOR}]},
        {"action": "deny", "enforcementPoints": [{"name": AUDIT}]},
        {"action": "dryrun", "enforcementPoints": [{"name": "*"}]},
        {"action": "warn", "enforcementPoints": [{"name": "*"}]},
    ]}))
    .unwrap();
    assert_eq!(
        c.enforcement_action,
        EnforcementAction::Scoped(vec![
            ScopedAction { action: "warn".into(), points: vec![WEBHOOK.into(), GATOR.into()] },
            ScopedAction { action: "deny".into(), points: vec![AUDIT.into()] },
            ScopedAction { action: "dryrun".into(), points: vec!["*".into()] },
            ScopedAction { action: "warn".into(), points: vec!["*".into()] },
        ])
    );
    assert_eq!(c.actions_at(WEBHOOK), ["warn", "dryrun"]);
    assert_eq!(c.actions_at(AUDIT), ["deny", "dryrun", "warn"]);
    assert_eq!(c.actions_at("vap.k8s.io"), ["dryrun", "warn"]);

    let only_audit = constraint(json!({"enforcementAction": "scoped", "scopedEnforcementActions": [
        {"action": "deny", "enforcementPoints": [{"name": AUDIT}]}]}))
    .unwrap();
    assert!(only_audit.actions_at(GATOR).is_empty());
    let none = constraint(json!({"enforcementAction": "scoped", "scopedEnforcementActions": []})).unwrap();
    assert!(none.actions_at(WEBHOOK).is_empty());
}

#[test]
fn scoped_actions_are_validated() {
    assert_eq!(
        error(json!({"enforcementAction": "scoped"})),
        "c.yaml: spec.scopedEnforcementActions: a list of {action, enforcementPoints} when enforcementAction is scoped"
    );
    assert_eq!(
        error(
            json!({"enforcementAction": "scoped", "scopedEnforcementActions": [{"action": "Deny", "enforcementPoints": []}]})
        ),
        "c.yaml: spec.scopedEnforcementActions[0].action: one of deny, dryrun, warn (lowercase), got \"Deny\""
    );
    assert!(
        error(json!({"enforcementAction": "scoped", "scopedEnforcementActions": [{"action": "deny", "enforcementPoints": [{}]}]}))
            .starts_with("c.yaml: spec.scopedEnforcementActions[0].enforcementPoints[0].name: a string")
    );
}

// ---- spec.match -----------------------------------------------------------------------------

#[test]
fn kinds_match_group_and_kind_with_wildcards() {
    let c =
        with_match(json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}, {"apiGroups": ["apps"], "kinds": ["*"]}]}));
    assert!(matches(&c, &pod("a", "p", json!({}))));
    assert!(matches(&c, &deployment("a")));
    assert!(!matches(&c, &namespace("a", json!({}))));
    assert!(!matches(&c, &cluster_role("r")));
    let any_group = with_match(json!({"kinds": [{"apiGroups": ["*"], "kinds": ["ClusterRole"]}]}));
    assert!(matches(&any_group, &cluster_role("r")));
    assert!(!matches(&any_group, &pod("a", "p", json!({}))));
    let empty_entry = with_match(json!({"kinds": [{}]}));
    assert!(matches(&empty_entry, &cluster_role("r")));
    let wrong_group = with_match(json!({"kinds": [{"apiGroups": ["apps"], "kinds": ["Pod"]}]}));
    assert!(!matches(&wrong_group, &pod("a", "p", json!({}))));
}

#[test]
fn scope_separates_cluster_and_namespaced_objects() {
    let cluster = with_match(json!({"scope": "Cluster"}));
    let namespaced = with_match(json!({"scope": "Namespaced"}));
    let typo = with_match(json!({"scope": "cluster"}));
    for (review, in_cluster) in
        [(namespace("a", json!({})), true), (cluster_role("r"), true), (pod("a", "p", json!({})), false)]
    {
        assert_eq!(matches(&cluster, &review), in_cluster);
        assert_eq!(matches(&namespaced, &review), !in_cluster);
        assert!(matches(&typo, &review));
    }
}

#[test]
fn namespaces_and_excluded_namespaces_use_globs() {
    let c = with_match(json!({"namespaces": ["kube-*", "*-system", "prod"], "excludedNamespaces": ["kube-public"]}));
    assert!(matches(&c, &pod("kube-system", "p", json!({}))));
    assert!(matches(&c, &pod("gatekeeper-system", "p", json!({}))));
    assert!(matches(&c, &pod("prod", "p", json!({}))));
    assert!(!matches(&c, &pod("prod2", "p", json!({}))));
    assert!(!matches(&c, &pod("kube-public", "p", json!({}))), "excluded wins");
    let contains = with_match(json!({"excludedNamespaces": ["*sys*"]}));
    assert!(!matches(&contains, &pod("my-system-1", "p", json!({}))));
    assert!(matches(&contains, &pod("default", "p", json!({}))));
}

#[test]
fn a_namespace_is_tested_by_its_own_name_and_cluster_objects_are_never_disqualified() {
    let only = with_match(json!({"namespaces": ["team-*"]}));
    assert!(matches(&only, &namespace("team-a", json!({}))));
    assert!(!matches(&only, &namespace("other", json!({}))));
    assert!(matches(&only, &cluster_role("r")));
    let excluded = with_match(json!({"excludedNamespaces": ["kube-system"]}));
    assert!(!matches(&excluded, &namespace("kube-system", json!({}))));
    assert!(matches(&excluded, &cluster_role("r")));
}

#[test]
fn the_namespace_object_name_wins_over_the_object_namespace() {
    let c = with_match(json!({"namespaces": ["prod"]}));
    let mut review = pod("", "p", json!({}));
    assert!(matches(&c, &review), "no namespace at all: cluster-scoped, not disqualified");
    review.namespace_object = Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}));
    assert!(matches(&c, &review));
    review.namespace_object = Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}));
    assert!(!matches(&c, &review));
}

#[test]
fn label_selector_reads_the_object_labels() {
    let c = with_match(json!({"labelSelector": {
    "matchLabels": {"app": "web"},
    "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["front", "edge"]},
        {"key": "env", "operator": "NotIn", "values": ["dev"]},
        {"key": "owner", "operator": "Exists"},
        {"key": "legacy", "operator": "DoesNotExist"},
    ]}}));
    let good = json!({"app": "web", "tier": "edge", "owner": "me"});
    assert!(matches(&c, &pod("a", "p", good.clone())));
    for (key, value) in [("app", json!("db")), ("tier", json!("back")), ("env", json!("dev")), ("legacy", json!("y"))] {
        let mut labels = good.clone();
        labels[key] = value;
        assert!(!matches(&c, &pod("a", "p", labels)), "{key}");
    }
    let mut no_owner = good;
    no_owner.as_object_mut().unwrap().remove("owner");
    assert!(!matches(&c, &pod("a", "p", no_owner)));
    assert!(!matches(&c, &pod("a", "p", Value::Null)), "no labels at all");
}

#[test]
fn namespace_selector_uses_the_namespace_labels() {
    let c = with_match(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
    assert!(matches(&c, &namespace("x", json!({"env": "prod"}))));
    assert!(!matches(&c, &namespace("x", json!({"env": "dev"}))));
    assert!(matches(&c, &cluster_role("r")), "cluster-scoped non-Namespace objects always match");

    let mut review = pod("x", "p", json!({"env": "prod"}));
    let err = c.matches(&review).unwrap_err();
    assert_eq!(
        err.to_string(),
        "constraint probe: namespace selector for namespace-scoped object but missing Namespace"
    );
    assert!(matches!(err, GatekeeperError::Match { .. }));
    review.namespace_object =
        Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"env": "prod"}}}));
    assert!(matches(&c, &review));
    review.namespace_object = Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
    assert!(!matches(&c, &review));
}

#[test]
fn a_cheaper_criterion_decides_before_the_namespace_is_needed() {
    let c = with_match(json!({"kinds": [{"kinds": ["Deployment"]}], "namespaceSelector": {"matchLabels": {"a": "b"}}}));
    assert!(!matches(&c, &pod("x", "p", json!({}))));
    assert!(c.matches(&deployment("x")).is_err());
}

#[test]
fn name_is_a_glob_on_metadata_name() {
    let c = with_match(json!({"name": "web-*"}));
    assert!(matches(&c, &pod("a", "web-1", json!({}))));
    assert!(!matches(&c, &pod("a", "db-1", json!({}))));
    assert!(matches(&with_match(json!({"name": "*-1"})), &pod("a", "db-1", json!({}))));
    assert!(matches(&with_match(json!({"name": ""})), &pod("a", "db-1", json!({}))));
}

#[test]
fn source_generated_matches_nothing_offline() {
    assert!(!matches(&with_match(json!({"source": "Generated"})), &pod("a", "p", json!({}))));
    assert!(matches(&with_match(json!({"source": "Original"})), &pod("a", "p", json!({}))));
    assert!(matches(&with_match(json!({"source": "All"})), &pod("a", "p", json!({}))));
}

#[test]
fn criteria_are_anded() {
    let c = with_match(
        json!({"kinds": [{"kinds": ["Pod"]}], "namespaces": ["prod"], "labelSelector": {"matchLabels": {"a": "b"}}}),
    );
    assert!(matches(&c, &pod("prod", "p", json!({"a": "b"}))));
    assert!(!matches(&c, &pod("dev", "p", json!({"a": "b"}))));
    assert!(!matches(&c, &pod("prod", "p", json!({}))));
    assert!(!matches(&c, &deployment("prod")));
}

// ---- files ----------------------------------------------------------------------------------

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatekeeper-constraints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn files_hold_several_documents_and_lists() {
    let path = temp_file(
        "multi.yaml",
        "---\n---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sA\nmetadata: {name: a}\n\
         ---\napiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: k8sa}\n\
         ---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: constraints.gatekeeper.sh/v1beta1\n  kind: K8sB\n  metadata: {name: b}\n  spec: {enforcementAction: warn}\n",
    );
    let constraints = Constraint::from_file(&path).unwrap();
    let names: Vec<_> = constraints.iter().map(|c| (c.kind.as_str(), c.name.as_str())).collect();
    assert_eq!(names, [("K8sA", "a"), ("K8sB", "b")]);
    assert_eq!(constraints[1].enforcement_action, EnforcementAction::Warn);
    assert_eq!(constraints[0].source, path.display().to_string());
}

#[test]
fn json_files_are_read() {
    let path = temp_file(
        "c.json",
        r#"{"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sA", "metadata": {"name": "a"}, "spec": {"parameters": {"n": 1}}}"#,
    );
    assert_eq!(Constraint::from_file(&path).unwrap()[0].parameters, Some(json!({"n": 1})));
}

#[test]
fn file_errors_name_the_file_and_object() {
    let empty = temp_file("empty.yaml", "---\n---\n");
    let err = Constraint::from_file(&empty).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: apiVersion: at least one object", empty.display())), "{err}");
    let bad = temp_file(
        "bad.yaml",
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sA\nmetadata: {name: a}\n---\n\
         apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sA\nmetadata: {name: b}\nspec:\n  match:\n    kinds:\n    - apiGroups: x\n",
    );
    let err = Constraint::from_file(&bad).unwrap_err().to_string();
    assert_eq!(err, format!("{} (object 2): spec.match.kinds[0].apiGroups: a list of strings", bad.display()));
    let missing = Constraint::from_file(&empty.with_file_name("missing.yaml")).unwrap_err();
    assert!(matches!(missing, GatekeeperError::Read { .. }));
}

// ---- parameters against the template schema ------------------------------------------------

fn schema() -> Value {
    json!({"type": "object", "required": ["mode"], "properties": {
        "mode": {"type": "string", "enum": ["a", "b"]},
        "ports": {"type": "array", "items": {"type": "integer"}},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "maybe": {"type": "string", "nullable": true},
        "name": {"type": "string"},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}},
    }})
}

fn check(parameters: Value, legacy: bool) -> Result<(), (String, String)> {
    validate(&schema(), &parameters, legacy)
}

fn problem(path: &str, expected: &str) -> Result<(), (String, String)> {
    Err((path.to_string(), expected.to_string()))
}

#[test]
fn well_typed_parameters_pass() {
    let ok = json!({"mode": "a", "ports": [80, 443.0], "ratio": 1, "flag": true, "labels": {"x": "y"},
                    "free": {"anything": [1, {"z": 2}]}, "maybe": null, "matrix": [[{"k": "v"}]]});
    assert_eq!(check(ok.clone(), false), Ok(()));
    assert_eq!(check(ok, true), Ok(()));
    assert_eq!(validate(&Value::Null, &json!({"whatever": [1]}), true), Ok(()), "legacy template without schema");
    let preserve = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    assert_eq!(validate(&preserve, &json!({"whatever": [1]}), false), Ok(()));
}

#[test]
fn wrong_types_are_refused_in_both_schema_modes() {
    for legacy in [false, true] {
        assert_eq!(
            check(json!({"mode": "a", "ports": ["80"]}), legacy),
            problem(".ports[0]", "an integer, got \"80\"")
        );
        assert_eq!(check(json!({"mode": "a", "ports": [80.5]}), legacy), problem(".ports[0]", "an integer, got 80.5"));
        assert_eq!(check(json!({"mode": "a", "name": 5}), legacy), problem(".name", "a string, got 5"));
        assert_eq!(check(json!({"mode": "a", "flag": "true"}), legacy), problem(".flag", "a boolean, got \"true\""));
        assert_eq!(check(json!({"mode": "a", "ratio": "1"}), legacy), problem(".ratio", "a number, got \"1\""));
        assert_eq!(check(json!({"mode": "a", "labels": {"x": 5}}), legacy), problem(".labels.x", "a string, got 5"));
        assert_eq!(check(json!({"mode": "a", "free": [1]}), legacy), problem(".free", "an object, got [1]"));
        assert_eq!(check(json!({"mode": "a", "name": null}), legacy), problem(".name", "a string, got null"));
        assert_eq!(check(json!([1]), legacy), problem("", "an object, got [1]"));
        assert_eq!(check(json!({"mode": "c"}), legacy), problem(".mode", "one of \"a\", \"b\", got \"c\""));
        assert_eq!(check(json!({"ports": []}), legacy), problem(".mode", "a value (the field is required)"));
        assert_eq!(
            check(json!({"mode": "a", "matrix": [[{"k": 5}]]}), legacy),
            problem(".matrix[0][0].k", "a string, got 5")
        );
        assert_eq!(check(json!({"mode": "a", "matrix": ["x"]}), legacy), problem(".matrix[0]", "an array, got \"x\""));
    }
}

#[test]
fn a_number_accepts_fractions_and_integers() {
    assert_eq!(check(json!({"mode": "a", "ratio": 0.5}), false), Ok(()));
    assert_eq!(check(json!({"mode": "a", "ratio": 2}), false), Ok(()));
}

#[test]
fn unknown_fields_are_refused_by_v1_schemas_and_kept_by_legacy_ones() {
    let top = check(json!({"mode": "a", "bogus": 1}), false).unwrap_err();
    assert_eq!(top.0, ".bogus");
    assert!(top.1.starts_with("no such field (unknown field, the template's schema declares "), "{}", top.1);
    assert!(top.1.contains("mode") && top.1.contains("matrix"), "{}", top.1);
    let nested = check(json!({"mode": "a", "matrix": [[{"k": "v", "extra": 1}]]}), false).unwrap_err();
    assert_eq!(nested.0, ".matrix[0][0].extra");
    assert!(nested.1.starts_with("no such field (unknown field, the template's schema declares k)"), "{}", nested.1);
    assert_eq!(check(json!({"mode": "a", "bogus": 1, "matrix": [[{"extra": 1}]]}), true), Ok(()));
    assert_eq!(check(json!({"mode": "a", "free": {"deep": {"er": 1}}}), false), Ok(()), "preserve-unknown-fields");
    assert_eq!(check(json!({"mode": "a", "labels": {"any": "key"}}), false), Ok(()), "additionalProperties");
}

#[test]
fn a_v1_template_without_schema_takes_no_parameters() {
    for parameters in [json!({}), json!({"a": 1}), json!([])] {
        let (path, expected) = validate(&Value::Null, &parameters, false).unwrap_err();
        assert_eq!(path, "");
        assert!(expected.contains("spec.parameters is an unknown field"), "{expected}");
    }
    let bare = json!({"type": "object", "properties": {"bare": {"type": "object"}}});
    assert_eq!(validate(&bare, &json!({"bare": {"a": 1}}), false).unwrap_err().0, ".bare.a");
    assert_eq!(validate(&bare, &json!({"bare": {"a": 1}}), true), Ok(()));
}
