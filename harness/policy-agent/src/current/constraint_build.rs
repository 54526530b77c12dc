//! The objects the add-on installs for one assignment (reference §3.2, §3.3, §4.3): the
//! ConstraintTemplate as fetched plus the add-on's label and annotations, and the Constraint built
//! from the assignment's resolved `details`. Pure, so every field is unit-tested.

use contracts::addon_objects::{
    ASSIGNMENT_ID, CONSTRAINT_INSTALLED_BY, CONSTRAINT_SOURCE, DEFINITION_ID, DEFINITION_REFERENCE_ID,
    MANAGED_BY_LABEL, SET_DEFINITION_ID, TEMPLATE_DEFINITION_ID, TEMPLATE_INSTALLED_BY, TEMPLATE_SOURCE,
    constraint_name,
};
use contracts::dataplane::{ConstraintAssignment, EnforcementMode};
use serde_json::{Map, Value, json};

use super::resources::{CONSTRAINT_GROUP, CONSTRAINT_VERSION};
use super::template_source::{FetchedTemplate, source_marker};

/// `spec.enforcementAction` for an assignment (reference §3.3): `deny` → `deny`; `audit` → `dryrun`;
/// `audit` with `details.warn` → `warn` (the wording; Azure's current add-on writes
/// `scoped`); enforcement mode `DoNotEnforce` → `dryrun` whatever the effect, since nothing may be
/// denied or warned at admission while compliance is still reported.
pub fn enforcement_action(a: &ConstraintAssignment) -> &'static str {
    if a.enforcement_mode == EnforcementMode::DoNotEnforce {
        "dryrun"
    } else if a.effect.eq_ignore_ascii_case("deny") {
        "deny"
    } else if a.warn {
        "warn"
    } else {
        "dryrun"
    }
}

/// The template to apply: as fetched, with the `managed-by` label and the annotations naming the
/// definition and the source. Server-managed fields a fetched YAML might carry are dropped.
pub fn template_object(a: &ConstraintAssignment, t: &FetchedTemplate) -> Value {
    let mut object = t.object.clone();
    let metadata = object_at(&mut object, "metadata");
    for field in ["resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"] {
        metadata.remove(field);
    }
    object.as_object_mut().expect("a template is a mapping").remove("status");
    let metadata = object_at(&mut object, "metadata");
    object_at_map(metadata, "labels").insert(MANAGED_BY_LABEL.0.into(), MANAGED_BY_LABEL.1.into());
    let annotations = object_at_map(metadata, "annotations");
    annotations.insert(TEMPLATE_DEFINITION_ID.into(), a.definition_id.clone().into());
    annotations.insert(TEMPLATE_INSTALLED_BY.0.into(), TEMPLATE_INSTALLED_BY.1.into());
    annotations.insert(TEMPLATE_SOURCE.into(), t.source.clone().into());
    object
}

/// The name of the assignment's Constraint.
pub fn constraint_object_name(a: &ConstraintAssignment, t: &FetchedTemplate) -> String {
    constraint_name(&t.name, &a.assignment_id)
}

/// The Constraint for `a` (reference §4.3). `own` is the definition's `constraintInfo` object, when
/// it has one: its `spec` is the base, and the add-on's name, label, annotations and enforcement
/// action are put on top.
pub fn constraint_object(a: &ConstraintAssignment, t: &FetchedTemplate, own: Option<&Value>) -> Value {
    let mut spec = match own.and_then(|c| c.get("spec")).and_then(Value::as_object) {
        Some(spec) => spec.clone(),
        None => built_spec(a),
    };
    spec.insert("enforcementAction".into(), enforcement_action(a).into());
    let constraint_url = a.constraint.as_ref().map(source_marker).unwrap_or_else(|| t.source.clone());
    json!({
        "apiVersion": format!("{CONSTRAINT_GROUP}/{CONSTRAINT_VERSION}"),
        "kind": t.kind,
        "metadata": {
            "name": constraint_object_name(a, t),
            "labels": {MANAGED_BY_LABEL.0: MANAGED_BY_LABEL.1},
            "annotations": {
                ASSIGNMENT_ID: a.assignment_id,
                DEFINITION_ID: a.definition_id,
                DEFINITION_REFERENCE_ID: "",
                SET_DEFINITION_ID: "",
                CONSTRAINT_INSTALLED_BY.0: CONSTRAINT_INSTALLED_BY.1,
                CONSTRAINT_SOURCE: constraint_url,
            },
        },
        "spec": spec,
    })
}

/// `spec.match` and `spec.parameters` from `details`, empty lists and selectors omitted as in the
/// observed dump (reference §3.2).
fn built_spec(a: &ConstraintAssignment) -> Map<String, Value> {
    let mut matcher = Map::new();
    if !a.api_groups.is_empty() || !a.kinds.is_empty() {
        matcher.insert("kinds".into(), json!([{"apiGroups": a.api_groups, "kinds": a.kinds}]));
    }
    if !a.namespaces.is_empty() {
        matcher.insert("namespaces".into(), json!(a.namespaces));
    }
    if !a.excluded_namespaces.is_empty() {
        matcher.insert("excludedNamespaces".into(), json!(a.excluded_namespaces));
    }
    let selector: Map<String, Value> =
        a.label_selector.iter().filter(|(_, v)| !is_empty(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !selector.is_empty() {
        matcher.insert("labelSelector".into(), Value::Object(selector));
    }
    if let Some(source) = a.source.as_ref().filter(|s| !s.is_empty()) {
        matcher.insert("source".into(), source.clone().into());
    }
    let mut spec = Map::new();
    spec.insert("match".into(), Value::Object(matcher));
    if !a.values.is_empty() {
        spec.insert("parameters".into(), Value::Object(a.values.clone()));
    }
    spec
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn object_at<'a>(object: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    object_at_map(object.as_object_mut().expect("a template is a mapping"), key)
}

/// `map[key]` as a mapping, created (or replacing a non-mapping) when needed.
fn object_at_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("just made a mapping")
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::dataplane::TemplateSource;

    const ID: &str = "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/no-priv";
    const URL: &str = "http://sim/kubernetes/container-no-privilege/v2/template.yaml";

    fn assignment(effect: &str) -> ConstraintAssignment {
        serde_json::from_value(json!({
            "assignmentId": ID, "assignmentName": "no-priv",
            "definitionId": "/providers/Microsoft.Authorization/policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4",
            "effect": effect,
            "template": {"sourceType": "PublicURL", "url": URL},
            "apiGroups": [""], "kinds": ["Pod"],
            "excludedNamespaces": ["kube-system", "gatekeeper-system"],
            "labelSelector": {},
            "source": "Original",
            "values": {"excludedContainers": [], "excludedImages": ["x/*"]}
        }))
        .unwrap()
    }

    fn template() -> FetchedTemplate {
        FetchedTemplate {
            object: json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                "metadata": {"name": "k8sazurev2noprivilege", "resourceVersion": "9", "annotations": {"keep": "me"}},
                "spec": {"crd": {"spec": {"names": {"kind": "K8sAzureV2NoPrivilege"}}}},
                "status": {"created": true}}),
            name: "k8sazurev2noprivilege".into(),
            kind: "K8sAzureV2NoPrivilege".into(),
            source: URL.into(),
            requires_sync: vec![],
            declares_sync: false,
        }
    }

    #[test]
    fn the_constraint_has_the_addon_name_label_and_annotations() {
        let a = assignment("Deny");
        let c = constraint_object(&a, &template(), None);
        assert_eq!(c["apiVersion"], "constraints.gatekeeper.sh/v1beta1");
        assert_eq!(c["kind"], "K8sAzureV2NoPrivilege");
        let name = c["metadata"]["name"].as_str().unwrap();
        assert_eq!(name, constraint_name("k8sazurev2noprivilege", ID));
        assert!(name.starts_with("azurepolicy-k8sazurev2noprivilege-") && name.len() <= 63, "{name}");
        assert_eq!(c["metadata"]["labels"], json!({"managed-by": "azure-policy-addon"}));
        assert_eq!(
            c["metadata"]["annotations"],
            json!({
                "azure-policy-assignment-id": ID,
                "azure-policy-definition-id": a.definition_id,
                "azure-policy-definition-reference-id": "",
                "azure-policy-setdefinition-id": "",
                "constraint-installed-by": "azure-policy-addon",
                "constraint-url": URL,
            })
        );
        assert_eq!(c["spec"]["parameters"], json!({"excludedContainers": [], "excludedImages": ["x/*"]}));
    }

    #[test]
    fn match_omits_empty_lists_and_selectors() {
        let a = assignment("deny");
        let spec = &constraint_object(&a, &template(), None)["spec"];
        assert_eq!(
            spec["match"],
            json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                   "excludedNamespaces": ["kube-system", "gatekeeper-system"], "source": "Original"})
        );
        let mut b = assignment("deny");
        b.namespaces = vec!["team".into()];
        b.label_selector = serde_json::from_value(json!({"matchLabels": {"a": "b"}, "matchExpressions": []})).unwrap();
        b.excluded_namespaces.clear();
        b.source = None;
        b.values.clear();
        let spec = &constraint_object(&b, &template(), None)["spec"];
        assert_eq!(spec["match"]["namespaces"], json!(["team"]));
        assert_eq!(spec["match"]["labelSelector"], json!({"matchLabels": {"a": "b"}}));
        assert!(spec["match"].get("excludedNamespaces").is_none() && spec["match"].get("source").is_none());
        assert!(spec.get("parameters").is_none());
    }

    #[test]
    fn each_effect_maps_to_its_enforcement_action() {
        let action = |effect: &str, warn: bool, mode: EnforcementMode| {
            let mut a = assignment(effect);
            a.warn = warn;
            a.enforcement_mode = mode;
            let c = constraint_object(&a, &template(), None);
            assert_eq!(c["spec"]["enforcementAction"], enforcement_action(&a));
            enforcement_action(&a)
        };
        assert_eq!(action("Deny", false, EnforcementMode::Default), "deny");
        assert_eq!(action("deny", true, EnforcementMode::Default), "deny");
        assert_eq!(action("Audit", false, EnforcementMode::Default), "dryrun");
        assert_eq!(action("audit", true, EnforcementMode::Default), "warn");
        assert_eq!(action("Deny", false, EnforcementMode::DoNotEnforce), "dryrun");
        assert_eq!(action("Audit", true, EnforcementMode::DoNotEnforce), "dryrun");
    }

    #[test]
    fn the_template_gets_the_label_and_annotations_and_loses_server_fields() {
        let a = assignment("Deny");
        let t = template_object(&a, &template());
        assert_eq!(t["metadata"]["labels"], json!({"managed-by": "azure-policy-addon"}));
        assert_eq!(
            t["metadata"]["annotations"],
            json!({"keep": "me", "azure-policy-definition-id": a.definition_id,
                   "constraint-template-installed-by": "azure-policy-addon", "constraint-template": URL})
        );
        assert!(t["metadata"].get("resourceVersion").is_none() && t.get("status").is_none());
        assert_eq!(t["spec"], template().object["spec"]);
    }

    #[test]
    fn a_definitions_own_constraint_keeps_its_spec_under_the_addon_marks() {
        let mut a = assignment("audit");
        a.constraint = Some(TemplateSource::PublicUrl { url: "http://sim/c.yaml".into() });
        let own = json!({"spec": {"match": {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]},
                                  "enforcementAction": "deny", "parameters": {"n": 1}}});
        let c = constraint_object(&a, &template(), Some(&own));
        assert_eq!(c["spec"]["match"], own["spec"]["match"]);
        assert_eq!(c["spec"]["parameters"], json!({"n": 1}));
        assert_eq!(c["spec"]["enforcementAction"], "dryrun");
        assert_eq!(c["metadata"]["annotations"]["constraint-url"], "http://sim/c.yaml");
    }
}
