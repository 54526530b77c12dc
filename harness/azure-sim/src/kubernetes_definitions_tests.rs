use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::*;

/// A custom template (shared with `tests/current_addon.rs`).
const TEMPLATE: &str = include_str!("../tests/fixtures/custom-labels-template.yaml");

fn definition(details: Value) -> Map<String, Value> {
    json!({
        "mode": "Microsoft.Kubernetes.Data",
        "parameters": {"effect": {"type": "String", "defaultValue": "Deny", "allowedValues": ["audit", "Deny", "DISABLED"]}},
        "policyRule": {"if": {"field": "type", "equals": "Microsoft.ContainerService/managedClusters"},
                       "then": {"effect": "[parameters('effect')]", "details": details}},
    })
    .as_object()
    .cloned()
    .unwrap()
}

fn base64_details() -> Value {
    json!({
        "templateInfo": {"sourceType": "Base64Encoded", "content": base64::engine::general_purpose::STANDARD.encode(TEMPLATE)},
        "apiGroups": [""], "kinds": ["Pod"], "excludedNamespaces": ["kube-system"], "values": {"labels": ["team"]},
    })
}

fn code(details: Value) -> &'static str {
    check(&definition(details)).unwrap_err().code()
}

fn with(mut details: Value, key: &str, value: Value) -> Value {
    details[key] = value;
    details
}

#[test]
fn valid_definitions_pass_with_any_effect_casing() {
    assert_eq!(check(&definition(base64_details())), Ok(()));
    let store = json!({
        "templateInfo": {"sourceType": "publicurl", "url": "https://store.policy.core.windows.net/kubernetes/container-no-privilege/v2/template.yaml"},
        "apiGroups": [""], "kinds": ["Pod"], "namespaces": "[parameters('namespaces')]",
    });
    let mut d = definition(store);
    d["policyRule"]["then"]["effect"] = json!("dEnY");
    assert_eq!(check(&d), Ok(()));
}

#[test]
fn each_rule_has_its_code() {
    let d = base64_details;
    assert_eq!(code(with(d(), "constraintTemplate", json!("https://x/t.yaml"))), "InvalidPolicyRuleEffectDetails");
    assert_eq!(code(with(d(), "constraint", json!("https://x/c.yaml"))), "InvalidPolicyRuleEffectDetails");
    let mut legacy = d();
    legacy.as_object_mut().unwrap().remove("templateInfo");
    assert_eq!(code(with(legacy, "constraintTemplate", json!("https://x/t.yaml"))), "InvalidPolicyRuleEffectDetails");
    assert_eq!(code(json!("not an object")), "InvalidPolicyRuleEffectDetails");
    let mut no_kinds = d();
    no_kinds.as_object_mut().unwrap().remove("kinds");
    assert_eq!(code(no_kinds), "InvalidPolicyRuleEffectDetails");
    assert_eq!(
        code(with(d(), "constraintInfo", json!({"sourceType": "PublicURL", "url": "u"}))),
        "InvalidPolicyRuleEffectDetails"
    );
    assert_eq!(code(with(d(), "apiGroups", json!(["*"]))), "KubernetesMatchWildcardNotAllowed");
    assert_eq!(code(with(d(), "kinds", json!(["Pod", "*"]))), "KubernetesMatchWildcardNotAllowed");
    assert_eq!(
        code(with(d(), "templateInfo", json!({"sourceType": "Inline", "content": "x"}))),
        "InvalidTemplateSourceType"
    );
    assert_eq!(code(with(d(), "templateInfo", json!({"sourceType": "PublicURL"}))), "InvalidTemplateSourceType");
    assert_eq!(
        code(with(d(), "templateInfo", json!({"sourceType": "Base64Encoded", "content": "%%%"}))),
        "InvalidConstraintTemplateContent"
    );
    let not_a_template = base64::engine::general_purpose::STANDARD.encode("kind: ConfigMap\napiVersion: v1\n");
    assert_eq!(
        code(with(d(), "templateInfo", json!({"sourceType": "Base64Encoded", "content": not_a_template}))),
        "InvalidConstraintTemplateContent"
    );
    let unknown = json!({"sourceType": "PublicURL", "url": "https://store.policy.core.windows.net/kubernetes/no-such-slug/v1/template.yaml"});
    let err = check(&definition(with(d(), "templateInfo", unknown))).unwrap_err();
    assert_eq!(err.code(), "ConstraintTemplateNotFound");
    assert!(err.to_string().contains("'no-such-slug' version v1"), "{err}");
    let err = check(&definition(with(d(), "values", json!({"labels": [], "nope": 1})))).unwrap_err();
    assert_eq!(err.code(), "UndefinedConstraintParameter");
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(code(with(d(), "source", json!("Everything"))), "InvalidPolicyRuleEffectDetails");
}

#[test]
fn unsupported_effects_are_refused_literal_or_through_the_parameter() {
    let mut d = definition(base64_details());
    d["policyRule"]["then"]["effect"] = json!("EnforceRegoPolicy");
    assert_eq!(check(&d).unwrap_err().code(), "InvalidPolicyRuleEffect");
    let mut d = definition(base64_details());
    d["parameters"]["effect"]["allowedValues"] = json!(["Audit", "Append"]);
    let err = check(&d).unwrap_err();
    assert_eq!(err.code(), "InvalidPolicyRuleEffect");
    assert!(err.to_string().contains("'Append' (parameters.effect)"), "{err}");
}

#[test]
fn kubernetes_details_under_another_mode_are_refused() {
    let then = json!({"effect": "audit", "details": base64_details()});
    let err = check_other_mode("Indexed", Some(&then)).unwrap_err();
    assert_eq!(err.code(), "InvalidPolicyRuleEffectDetails");
    assert!(err.to_string().contains("using mode 'Indexed'"), "{err}");
    let rego = json!({"effect": "EnforceRegoPolicy", "details": {"policyId": "p", "policy": "https://x/p.rego"}});
    assert_eq!(check_other_mode("Microsoft.ContainerService.Data", Some(&rego)), Ok(()));
    assert_eq!(check_other_mode("All", None), Ok(()));
}
