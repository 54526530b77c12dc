//! Today's add-on on the Azure side (issue 13 item 1): `Microsoft.Kubernetes.Data` definitions and
//! their error codes, the built-in catalog beside the 2019 one, the template store, and the
//! dataplane's `constraintAssignments`.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

const ALLOWED_IMAGES: &str = "febd0533-8e55-448f-b837-bd0e06f16469";
const NO_PRIVILEGE: &str = "95edb821-ddaf-4404-9732-666045e056b4";

/// A custom template (shared with the unit tests of `src/kubernetes_definitions.rs`).
const TEMPLATE: &str = include_str!("fixtures/custom-labels-template.yaml");

fn encoded(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A custom definition with a Base64Encoded template and a `labels` parameter.
fn custom(details: Value) -> Value {
    json!({"properties": {
        "displayName": "Pods need labels", "mode": "Microsoft.Kubernetes.Data",
        "parameters": {
            "effect": {"type": "String", "defaultValue": "Deny", "allowedValues": ["audit", "deny", "Disabled"]},
            "labels": {"type": "Array", "defaultValue": ["team"]},
        },
        "policyRule": {
            "if": {"field": "type", "in": ["Microsoft.ContainerService/managedClusters"]},
            "then": {"effect": "[parameters('effect')]", "details": details},
        },
    }})
}

fn details() -> Value {
    json!({
        "templateInfo": {"sourceType": "Base64Encoded", "content": encoded(TEMPLATE)},
        "apiGroups": [""], "kinds": ["Pod"], "excludedNamespaces": ["kube-system"],
        "values": {"labels": "[parameters('labels')]"},
    })
}

fn with(mut value: Value, key: &str, field: Value) -> Value {
    value[key] = field;
    value
}

fn enc(s: &str) -> String {
    s.replace('/', "%2F")
}

#[tokio::test]
async fn custom_kubernetes_definitions_are_validated_with_azure_codes() {
    let w = world().await;
    let path =
        |name: &str| format!("/subscriptions/{}/providers/Microsoft.Authorization/policyDefinitions/{name}", w.sub);
    let created = w.arm.put(&path("labels"), custom(details())).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["properties"]["policyType"], "Custom");
    // Effect literal in any casing.
    let literal = with(custom(details()), "properties", {
        let mut p = custom(details())["properties"].clone();
        p["policyRule"]["then"]["effect"] = json!("AUDIT");
        p
    });
    assert_eq!(w.arm.put(&path("literal"), literal).await.status, 201);

    let store = |slug: &str| json!({"sourceType": "PublicURL", "url": format!("https://store.policy.core.windows.net/kubernetes/{slug}/v2/template.yaml")});
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "legacy",
            with(details(), "constraintTemplate", json!("https://x/template.yaml")),
            "InvalidPolicyRuleEffectDetails",
            "constraintTemplate",
        ),
        (
            "star-groups",
            with(details(), "apiGroups", json!(["*"])),
            "KubernetesMatchWildcardNotAllowed",
            "details.apiGroups",
        ),
        ("star-kinds", with(details(), "kinds", json!(["*"])), "KubernetesMatchWildcardNotAllowed", "details.kinds"),
        (
            "not-base64",
            with(details(), "templateInfo", json!({"sourceType": "Base64Encoded", "content": "not base64!"})),
            "InvalidConstraintTemplateContent",
            "details.templateInfo.content",
        ),
        (
            "not-template",
            with(details(), "templateInfo", json!({"sourceType": "Base64Encoded", "content": encoded("a: b\n")})),
            "InvalidConstraintTemplateContent",
            "ConstraintTemplate",
        ),
        (
            "unknown-key",
            with(details(), "values", json!({"labels": [], "colour": "red"})),
            "UndefinedConstraintParameter",
            "colour",
        ),
        (
            "unknown-slug",
            with(details(), "templateInfo", store("no-such-policy")),
            "ConstraintTemplateNotFound",
            "'no-such-policy'",
        ),
        (
            "source-type",
            with(details(), "templateInfo", json!({"sourceType": "Git", "url": "u"})),
            "InvalidTemplateSourceType",
            "details.templateInfo.sourceType",
        ),
    ];
    for (name, details, code, named) in cases {
        let r = w.arm.put(&path(name), custom(details)).await;
        assert_eq!((r.status, r.code()), (400, code), "{name}: {:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named) && message.contains(&format!("'{name}'")), "{name}: {message}");
        assert_eq!(w.arm.get(&path(name)).await.status, 404, "{name} was not stored");
    }
    let mut bad_effect = custom(details());
    bad_effect["properties"]["parameters"]["effect"]["allowedValues"] = json!(["Audit", "EnforceRegoPolicy"]);
    assert_eq!(w.arm.put(&path("bad-effect"), bad_effect).await.code(), "InvalidPolicyRuleEffect");

    // azure-policy#880: a built-in re-created without its mode.
    let mut copied =
        w.arm.get(&format!("/providers/Microsoft.Authorization/policyDefinitions/{NO_PRIVILEGE}")).await.body;
    copied["properties"].as_object_mut().unwrap().remove("mode");
    let r = w.arm.put(&path("copy"), json!({"properties": copied["properties"]})).await;
    assert_eq!((r.status, r.code()), (400, "InvalidPolicyRuleEffectDetails"), "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("using mode 'All'"));
    // With its mode, the copy is accepted; under the built-in's own name it is a conflict.
    copied["properties"]["mode"] = json!("Microsoft.Kubernetes.Data");
    assert_eq!(w.arm.put(&path("copy"), json!({"properties": copied["properties"]})).await.status, 201);
    let r = w.arm.put(&path(NO_PRIVILEGE), json!({"properties": copied["properties"]})).await;
    assert_eq!(r.code(), "PolicyDefinitionNameConflict");

    // The 2019 shape keeps working.
    let rego = json!({"properties": {"mode": "Microsoft.ContainerService.Data", "policyRule": {
        "if": {"field": "type", "equals": "Microsoft.ContainerService/managedClusters"},
        "then": {"effect": "EnforceRegoPolicy", "details": {"policyId": "p", "policy": "https://x/p.rego"}}}}});
    assert_eq!(w.arm.put(&path("rego"), rego).await.status, 201);
}

#[tokio::test]
async fn the_catalog_lists_todays_builtins_beside_the_2019_ones() {
    let w = world().await;
    let listed = w.arm.get("/providers/Microsoft.Authorization/policyDefinitions").await;
    let all = listed.body["value"].as_array().unwrap();
    assert_eq!(all.len(), 9 + 54);
    let category = |c: &str| all.iter().filter(|d| d["properties"]["metadata"]["category"] == c).count();
    assert_eq!((category("Kubernetes service"), category("Kubernetes")), (9, 54));
    let in_sub =
        w.arm.get(&format!("/subscriptions/{}/providers/Microsoft.Authorization/policyDefinitions", w.sub)).await;
    assert_eq!(in_sub.body["value"].as_array().unwrap().len(), 63);

    let shown = w
        .arm
        .get(&format!("/providers/Microsoft.Authorization/policyDefinitions/{}", ALLOWED_IMAGES.to_uppercase()))
        .await;
    assert_eq!(shown.status, 200);
    let p = &shown.body["properties"];
    assert_eq!(shown.body["name"], ALLOWED_IMAGES);
    assert_eq!(p["displayName"], "Kubernetes cluster containers should only use allowed images");
    assert_eq!(p["metadata"]["version"], "9.3.0");
    assert_eq!(p["mode"], "Microsoft.Kubernetes.Data");
    assert_eq!(
        p["parameters"]["effect"]["allowedValues"],
        json!(["audit", "Audit", "deny", "Deny", "disabled", "Disabled"])
    );
    assert_eq!(
        p["policyRule"]["then"]["details"]["templateInfo"]["url"],
        "https://store.policy.core.windows.net/kubernetes/container-allowed-images/v2/template.yaml",
        "definitions keep Azure's store URL"
    );
    let taints =
        w.arm.get("/providers/Microsoft.Authorization/policyDefinitions/48940d92-ff05-449e-9111-e742d9280451").await;
    assert_eq!(taints.body["properties"]["displayName"], "Reserved System Pool Taints");
    assert_eq!(
        taints.body["properties"]["parameters"]["excludedNamespaces"]["defaultValue"],
        json!(["kube-system", "gatekeeper-system", "azure-arc"])
    );
    assert!(taints.body["properties"]["parameters"]["reservedTaints"].get("defaultValue").is_none());
}

#[tokio::test]
async fn the_template_store_serves_the_policy_library() {
    let w = world().await;
    let r = w.arm.http.get(w.arm.url("/kubernetes/container-no-privilege/v2/template.yaml")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/yaml; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), policy_library::template("container-no-privilege", 2).unwrap());
    for missing in [
        "/kubernetes/container-no-privilege/v9/template.yaml",
        "/kubernetes/nope/v1/template.yaml",
        "/kubernetes/container-no-privilege/2/template.yaml",
    ] {
        let r = w.arm.with_token(None).get(missing).await;
        assert_eq!((r.status, r.code()), (404, "TemplateNotFound"), "{missing}");
    }
}

#[tokio::test]
async fn the_dataplane_gives_the_addon_each_kubernetes_assignment_resolved() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", true).await;
    let c = w.cluster_id("rg", "c");
    let assign = |name: &str, definition: String, params: Value, mode: &str| {
        let path = format!("{c}/providers/Microsoft.Authorization/policyAssignments/{name}");
        let body =
            json!({"properties": {"policyDefinitionId": definition, "parameters": params, "enforcementMode": mode}});
        let arm = &w.arm;
        async move { arm.put(&path, body).await }
    };
    let builtin = |guid: &str| format!("/providers/Microsoft.Authorization/policyDefinitions/{guid}");
    // `az policy assignment create --params` style parameters for a catalog built-in, by GUID.
    let params = json!({
        "allowedContainerImagesRegex": {"value": "^myacr\\.azurecr\\.io/.+$"},
        "effect": {"value": "audit"},
        "excludedContainers": {"value": ["istio-proxy"]},
        "labelSelector": {"value": {"matchLabels": {"tier": "web"}}},
        "warn": {"value": true},
    });
    let images = assign("images", builtin(ALLOWED_IMAGES), params, "DoNotEnforce").await;
    assert_eq!(images.status, 201, "{:?}", images.body);
    assert_eq!(
        assign("privileged", builtin(NO_PRIVILEGE), json!({"effect": {"value": "Disabled"}}), "Default").await.status,
        201
    );
    assert_eq!(assign("rego", builtin(PRIVILEGE_GUID), json!({}), "Default").await.status, 201);
    let defs = format!("/subscriptions/{}/providers/Microsoft.Authorization/policyDefinitions/labels", w.sub);
    assert_eq!(w.arm.put(&defs, custom(details())).await.status, 201);
    assert_eq!(
        assign("labels", defs.clone(), json!({"labels": {"value": ["team", "app"]}}), "Default").await.status,
        201
    );
    let wrong = assign("wrong", builtin(ALLOWED_IMAGES), json!({"effect": {"value": "Deny"}}), "Default").await;
    assert_eq!((wrong.status, wrong.code()), (400, "MissingPolicyParameter"));

    let feed = w.arm.get(&format!("/dataplane/v1/assignments?clusterId={}", enc(&c))).await;
    assert_eq!(feed.status, 200, "{:?}", feed.body);
    let rego: Vec<&str> =
        feed.body["assignments"].as_array().unwrap().iter().map(|a| a["assignmentName"].as_str().unwrap()).collect();
    assert_eq!(rego, ["rego"], "the 2019 list is unchanged");
    let current = feed.body["constraintAssignments"].as_array().unwrap();
    let mut names: Vec<&str> = current.iter().map(|a| a["assignmentName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["images", "labels"], "a Disabled effect is not delivered");

    let a = current.iter().find(|a| a["assignmentName"] == "images").unwrap();
    let store_url = w.arm.url("/kubernetes/container-allowed-images/v2/template.yaml");
    assert_eq!(a["template"], json!({"sourceType": "PublicURL", "url": store_url}));
    assert_eq!(a["definitionId"], builtin(ALLOWED_IMAGES));
    assert_eq!(a["assignmentId"], images.body["id"]);
    assert_eq!(
        (a["effect"].as_str(), a["enforcementMode"].as_str(), a["warn"].as_bool()),
        (Some("audit"), Some("DoNotEnforce"), Some(true))
    );
    assert_eq!(a["values"], json!({"imageRegex": "^myacr\\.azurecr\\.io/.+$", "excludedContainers": ["istio-proxy"]}));
    assert_eq!((a["apiGroups"].clone(), a["kinds"].clone()), (json!([""]), json!(["Pod"])));
    assert_eq!(
        a["excludedNamespaces"],
        json!(["kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system"])
    );
    assert_eq!(a["namespaces"], json!([]));
    assert_eq!(a["labelSelector"], json!({"matchLabels": {"tier": "web"}}));
    assert_eq!(a["source"], "Original");
    // The URL the add-on gets is served here.
    let fetched = w.arm.http.get(a["template"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(fetched.text().await.unwrap(), policy_library::template("container-allowed-images", 2).unwrap());

    let l = current.iter().find(|a| a["assignmentName"] == "labels").unwrap();
    assert_eq!(l["template"], json!({"sourceType": "Base64Encoded", "content": encoded(TEMPLATE)}));
    assert_eq!((l["effect"].as_str(), l["warn"].as_bool(), l.get("source")), (Some("Deny"), Some(false), None));
    assert_eq!(l["values"], json!({"labels": ["team", "app"]}));
    assert_eq!(l["enforcementMode"], "Default");
}

#[tokio::test]
async fn the_definitions_directory_takes_kubernetes_definitions_and_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("labels.json"), custom(details()).to_string()).unwrap();
    let w = world_with(azure_sim::SimConfig { definitions_dir: Some(dir.path().to_path_buf()), ..Default::default() })
        .await;
    let shown = w.arm.get("/providers/Microsoft.Authorization/policyDefinitions/labels").await;
    assert_eq!((shown.status, shown.body["properties"]["mode"].as_str()), (200, Some("Microsoft.Kubernetes.Data")));
    w.sim.shutdown().await;

    std::fs::write(dir.path().join("star.json"), custom(with(details(), "kinds", json!(["*"]))).to_string()).unwrap();
    let config = azure_sim::SimConfig { definitions_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let err = azure_sim::AzureSim::start(config, std::sync::Arc::new(azure_sim::NoopAddonController))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("star.json") && text.contains("KubernetesMatchWildcardNotAllowed"), "{text}");
}
