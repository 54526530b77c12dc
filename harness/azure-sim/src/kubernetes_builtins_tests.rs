use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::*;
use crate::kubernetes_definitions;

fn props(d: &Value) -> &Map<String, Value> {
    d["properties"].as_object().unwrap()
}

/// A value of the declared type, for parameters without a default.
fn sample(declared_type: &str) -> Value {
    match declared_type.to_ascii_lowercase().as_str() {
        "array" => json!(["x"]),
        "object" => json!({}),
        "boolean" => json!(true),
        "integer" => json!(1),
        _ => json!("x"),
    }
}

#[test]
fn the_catalog_has_the_54_definitions_with_their_guids_and_shape() {
    assert_eq!(all().len(), 54);
    let guids: BTreeSet<&str> = all().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(guids.len(), 54, "GUIDs are unique");
    let ours = all().iter().filter(|d| d["properties"]["metadata"]["harnessTemplate"] == "ourReading").count();
    assert_eq!((54 - ours, ours), (26, 28), "26 rows have a public reference folder (reference §5)");
    for (file, d) in file_names().zip(all()) {
        let p = props(d);
        let guid = d["name"].as_str().unwrap();
        assert_eq!(d["id"], format!("/providers/Microsoft.Authorization/policyDefinitions/{guid}"), "{file}");
        assert_eq!(p["mode"], "Microsoft.Kubernetes.Data", "{file}");
        assert_eq!(p["policyType"], "BuiltIn", "{file}");
        assert_eq!(p["metadata"]["category"], "Kubernetes", "{file}");
        assert_eq!(p["metadata"]["version"], p["version"], "{file}");
        assert!(["publicReference", "ourReading"].contains(&p["metadata"]["harnessTemplate"].as_str().unwrap()));
        let url = p["policyRule"]["then"]["details"]["templateInfo"]["url"].as_str().unwrap();
        assert!(policy_library::parse_store_url(url).is_some(), "{file}: {url}");
        assert!(url.starts_with(policy_library::STORE_URL_PREFIX), "{file}: {url}");
        // The effect's default is one of its allowed values; every rule passes the PUT checks up to
        // the template (checked by the strict test below).
        let effect = &p["parameters"]["effect"];
        assert!(effect["allowedValues"].as_array().unwrap().contains(&effect["defaultValue"]), "{file}");
    }
}

#[test]
fn every_expression_names_a_declared_parameter_and_defaults_fit_their_types() {
    for (file, d) in file_names().zip(all()) {
        let declared = props(d)["parameters"].as_object().unwrap();
        let required: Vec<(String, Value)> = declared
            .iter()
            .filter(|(_, decl)| decl.get("defaultValue").is_none())
            .map(|(k, decl)| (k.clone(), sample(decl["type"].as_str().unwrap())))
            .collect();
        let resolved = contracts::policy_parameters::resolve(declared, &required)
            .unwrap_or_else(|e| panic!("{file}: parameters do not resolve: {e}"));
        let then = &props(d)["policyRule"]["then"];
        contracts::policy_parameters::expand(then, &resolved, "then").unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn a_few_rows_are_exactly_as_the_catalog_says() {
    let images = find("FEBD0533-8E55-448F-B837-BD0E06F16469").expect("found case-insensitively");
    let p = props(images);
    assert_eq!(p["displayName"], "Kubernetes cluster containers should only use allowed images");
    assert_eq!(p["version"], "9.3.0");
    assert_eq!(p["parameters"]["effect"]["defaultValue"], "Deny");
    assert!(p["parameters"]["allowedContainerImagesRegex"].get("defaultValue").is_none());
    let details = &p["policyRule"]["then"]["details"];
    assert_eq!(
        details["templateInfo"],
        json!({"sourceType": "PublicURL", "url": "https://store.policy.core.windows.net/kubernetes/container-allowed-images/v2/template.yaml"})
    );
    assert_eq!(details["values"]["imageRegex"], "[parameters('allowedContainerImagesRegex')]");
    assert!(details["values"].get("excludedImages").is_none(), "row 19 has C but not I");

    let sys_admin = props(find("d2e7ea85-6b44-4317-a0be-1b951587f626").unwrap());
    let details = &sys_admin["policyRule"]["then"]["details"];
    assert_eq!(details["values"]["disallowedCapabilities"], json!(["SYS_ADMIN"]));
    assert!(details.get("source").is_none() && details.get("warn").is_none());

    let block = props(find("b81f454c-eebb-4e4f-9dfe-dca060e8a8fd").unwrap());
    assert_eq!(block["policyRule"]["then"]["details"]["kinds"], json!(["[parameters('kind')]"]));
    assert!(block["parameters"]["namespaces"].get("defaultValue").is_none(), "N! has no default");
    let nodes = props(find("53a4a537-990c-495a-92e0-7c21a465442c").unwrap());
    assert_eq!(
        nodes["policyRule"]["if"],
        json!({"field": "type", "equals": "Microsoft.ContainerService/managedClusters"})
    );
    assert_eq!(nodes["parameters"]["excludedNamespaces"]["defaultValue"].as_array().unwrap().len(), 3);
    assert!(find("00000000-0000-0000-0000-000000000000").is_none());
}

/// Strict: every definition's template is in the policy library and takes its `values`. While
/// templates are missing, the message lists them.
#[test]
fn every_catalogued_template_resolves_in_the_policy_library() {
    let failures: Vec<String> = file_names()
        .zip(all())
        .filter_map(|(file, d)| {
            kubernetes_definitions::check(props(d)).err().map(|e| format!("{file}: {} {e}", e.code()))
        })
        .collect();
    assert!(failures.is_empty(), "{} of 54 do not resolve:\n{}", failures.len(), failures.join("\n"));
}
