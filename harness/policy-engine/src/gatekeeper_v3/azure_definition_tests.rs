//! Definition → constraint mapping on JSON in and out (no engine needed).

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Value {
    let text = match name {
        "container-no-privilege" => {
            include_str!("../../tests/fixtures/gatekeeper/definitions/container-no-privilege.json")
        }
        "container-allowed-images" => {
            include_str!("../../tests/fixtures/gatekeeper/definitions/container-allowed-images.json")
        }
        "allowed-host-paths" => include_str!("../../tests/fixtures/gatekeeper/definitions/allowed-host-paths.json"),
        "block-default-namespace" => {
            include_str!("../../tests/fixtures/gatekeeper/definitions/block-default-namespace.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn code_of(err: GatekeeperError) -> (String, String) {
    match err {
        GatekeeperError::AzureDefinition { code, message, .. } => (code, message),
        other => panic!("expected an Azure error, got {other}"),
    }
}

fn details_mut(def: &mut Value) -> &mut Value {
    def.pointer_mut("/properties/policyRule/then/details").unwrap()
}

#[test]
fn deny_definition_gives_a_deny_constraint_with_the_documented_match() {
    let built = build(&fixture("container-no-privilege"), &[], "d.json").unwrap();
    assert_eq!(built.effect, "Deny");
    assert_eq!(
        built.template_origin,
        "https://store.policy.core.windows.net/kubernetes/container-no-privilege/v2/template.yaml"
    );
    let c = built.constraint.unwrap();
    assert_eq!(c["kind"], "K8sAzureV2NoPrivilege");
    assert_eq!(c["apiVersion"], "constraints.gatekeeper.sh/v1beta1");
    assert_eq!(c["spec"]["enforcementAction"], "deny");
    // Empty namespaces and labelSelector are omitted; source is copied.
    assert_eq!(
        c["spec"]["match"],
        json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
               "excludedNamespaces": ["kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system"],
               "source": "Original"})
    );
    assert_eq!(c["spec"]["parameters"], json!({"excludedContainers": [], "excludedImages": []}));
    assert_eq!(c["metadata"]["labels"], json!({"managed-by": "azure-policy-addon"}));
    assert_eq!(
        c["metadata"]["annotations"]["azure-policy-definition-id"],
        "/providers/Microsoft.Authorization/policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4"
    );
}

#[test]
fn constraint_names_are_63_chars_deterministic_and_differ_by_parameters() {
    let def = fixture("container-allowed-images");
    let a = build(&def, &params(&[("allowedContainerImagesRegex", "^a$")]), "d").unwrap().constraint.unwrap();
    let again = build(&def, &params(&[("allowedContainerImagesRegex", "^a$")]), "d").unwrap().constraint.unwrap();
    let b = build(&def, &params(&[("allowedContainerImagesRegex", "^b$")]), "d").unwrap().constraint.unwrap();
    let name = a["metadata"]["name"].as_str().unwrap();
    assert_eq!(name, again["metadata"]["name"].as_str().unwrap());
    assert_ne!(name, b["metadata"]["name"].as_str().unwrap());
    // k8sazurev2containerallowedimages is 32 characters; the name keeps 30 of them.
    assert!(name.starts_with("azurepolicy-k8sazurev2containerallowedimag-"), "{name}");
    assert_eq!(name.len(), 63);
    assert!(name[43..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
}

#[test]
fn renamed_parameter_lands_under_its_values_key() {
    let built = build(
        &fixture("container-allowed-images"),
        &params(&[("allowedContainerImagesRegex", "^.+azurecr.io/.+$")]),
        "d",
    )
    .unwrap();
    let c = built.constraint.unwrap();
    assert_eq!(c["spec"]["parameters"], json!({"imageRegex": "^.+azurecr.io/.+$", "excludedContainers": []}));
}

#[test]
fn a_required_parameter_without_value_is_an_arm_error() {
    let (code, message) = code_of(build(&fixture("container-allowed-images"), &[], "d").unwrap_err());
    assert_eq!(code, "MissingPolicyParameter");
    assert!(message.contains("allowedContainerImagesRegex"), "{message}");
}

#[test]
fn object_parameter_sub_fields_resolve() {
    let built = build(
        &fixture("allowed-host-paths"),
        &params(&[("allowedHostPaths", r#"{"paths":[{"pathPrefix":"/var/log","readOnly":true}]}"#)]),
        "d",
    )
    .unwrap();
    let c = built.constraint.unwrap();
    assert_eq!(c["spec"]["parameters"]["allowedHostPaths"], json!([{"pathPrefix": "/var/log", "readOnly": true}]));
    assert_eq!(c["spec"]["parameters"]["windowsAllowedHostPaths"], json!([]));
    // Default effect Audit maps to dryrun.
    assert_eq!(c["spec"]["enforcementAction"], "dryrun");
}

#[test]
fn audit_with_warn_is_scoped_and_disabled_installs_nothing() {
    let def = fixture("block-default-namespace");
    let c = build(&def, &params(&[("warn", "true")]), "d").unwrap().constraint.unwrap();
    assert_eq!(c["spec"]["enforcementAction"], "scoped");
    let actions = c["spec"]["scopedEnforcementActions"].as_array().unwrap();
    assert_eq!(actions[0]["action"], "warn");
    assert_eq!(actions[1], json!({"action": "dryrun", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]}));
    assert_eq!(c["spec"]["match"]["namespaces"], json!(["default"]));
    assert!(c["spec"].get("parameters").is_none());
    // Effects compare case-insensitively.
    assert_eq!(
        build(&def, &params(&[("effect", "DENY")]), "d").unwrap().constraint.unwrap()["spec"]["enforcementAction"],
        "deny"
    );
    let disabled = build(&def, &params(&[("effect", "Disabled")]), "d").unwrap();
    assert_eq!(disabled.constraint, None);
}

#[test]
fn label_selector_is_kept_when_it_selects_something() {
    let def = fixture("block-default-namespace");
    let c =
        build(&def, &params(&[("labelSelector", r#"{"matchLabels":{"team":"a"}}"#)]), "d").unwrap().constraint.unwrap();
    assert_eq!(c["spec"]["match"]["labelSelector"], json!({"matchLabels": {"team": "a"}}));
}

#[test]
fn base64_templates_are_decoded() {
    let mut def = fixture("block-default-namespace");
    let text = policy_library::template("block-default-namespace", 1).unwrap();
    let content = base64::engine::general_purpose::STANDARD.encode(text);
    details_mut(&mut def)["templateInfo"] = json!({"sourceType": "Base64Encoded", "content": content});
    let built = build(&def, &[], "d").unwrap();
    assert_eq!(built.template_origin, "templateInfo.content (Base64Encoded)");
    assert_eq!(built.template["metadata"]["name"], "k8sazurev1blockdefault");
    assert_eq!(built.constraint.unwrap()["kind"], "K8sAzureV1BlockDefault");
}

#[test]
fn an_unknown_store_slug_is_named() {
    let mut def = fixture("block-default-namespace");
    details_mut(&mut def)["templateInfo"]["url"] =
        json!("https://store.policy.core.windows.net/kubernetes/no-such-policy/v1/template.yaml");
    let err = build(&def, &[], "d.json").unwrap_err().to_string();
    assert!(err.contains("no-such-policy v1") && err.contains("not in the policy library"), "{err}");
    details_mut(&mut def)["templateInfo"]["url"] =
        json!("https://store.policy.core.windows.net/kubernetes/block-default-namespace/v7/template.yaml");
    let err = build(&def, &[], "d.json").unwrap_err().to_string();
    assert!(err.contains("has only v1"), "{err}");
}

#[test]
fn documented_details_rules_give_invalid_policy_rule_effect_details() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("star kinds", Box::new(|d: &mut Value| d["kinds"] = json!(["*"])), "kinds must not contain"),
        ("star groups", Box::new(|d: &mut Value| d["apiGroups"] = json!(["*"])), "apiGroups must not contain"),
        ("no kinds", Box::new(|d: &mut Value| drop(d.as_object_mut().unwrap().remove("kinds"))), "kinds is required"),
        (
            "both sources",
            Box::new(|d: &mut Value| d["constraintTemplate"] = json!("https://x/template.yaml")),
            "cannot be combined with constraintTemplate",
        ),
        (
            "no template",
            Box::new(|d: &mut Value| drop(d.as_object_mut().unwrap().remove("templateInfo"))),
            "templateInfo is required",
        ),
        (
            "bad source type",
            Box::new(|d: &mut Value| d["templateInfo"]["sourceType"] = json!("Git")),
            "sourceType `Git`",
        ),
        ("unknown value key", Box::new(|d: &mut Value| d["values"] = json!({"nope": 1})), "values key(s) nope"),
        (
            "constraintInfo with kinds",
            Box::new(|d: &mut Value| d["constraintInfo"] = json!({"sourceType": "PublicURL", "url": "x"})),
            "constraintInfo cannot be combined with apiGroups",
        ),
    ];
    for (what, edit, expected) in cases {
        let mut def = fixture("block-default-namespace");
        edit(details_mut(&mut def));
        let (code, message) = code_of(build(&def, &[], "d").unwrap_err());
        assert_eq!(code, INVALID_DETAILS, "{what}");
        assert!(message.contains(expected), "{what}: {message}");
    }
}

#[test]
fn other_modes_are_not_kubernetes_data() {
    assert!(is_kubernetes_data(&fixture("block-default-namespace")));
    assert!(!is_kubernetes_data(&json!({"properties": {"mode": "Microsoft.ContainerService.Data"}})));
    assert!(is_kubernetes_data(&json!({"properties": {"mode": "microsoft.kubernetes.data"}})));
}
