//! The template controller against the real local API server (`cluster::shared()`): the
//! ConstraintTemplate CRD installs, a library template gets its constraint CRD and `created: true`,
//! the API server itself refuses wrongly typed parameters (the add-on's `InvalidConstraint`), a
//! template with a Rego syntax error reports where it broke, and deleting a template removes its CRD.
//!
//! One cluster, one runtime and one controller for the binary; tests run one at a time and use
//! template kinds of their own, so they do not see each other's objects.

use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gatekeeper::controller::{TemplateController, TemplateStatus, template_resource};
use gatekeeper::crds::{CATEGORIES, CONSTRAINT_LABEL, constraint_crd_name, install_crds};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::{Value, json};

/// Upper bound of every wait: generous for a loaded two-core machine, never a fixed sleep.
const WAIT: Duration = Duration::from_secs(60);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap())
}

fn serial<F: Future<Output = ()>>(body: F) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(body);
}

/// The cluster's client with the CRD installed and the controller running (for the whole binary).
async fn client() -> kube::Client {
    static CLIENT: tokio::sync::OnceCell<kube::Client> = tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let cluster = cluster::shared().await.expect("local cluster");
            let client = cluster.client();
            install_crds(&client).await.expect("ConstraintTemplate CRD");
            std::mem::forget(TemplateController::spawn(client.clone()));
            client
        })
        .await
        .clone()
}

fn templates(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &template_resource())
}

fn crds(client: &kube::Client) -> Api<CustomResourceDefinition> {
    Api::all(client.clone())
}

fn constraints(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("constraints.gatekeeper.sh", "v1beta1", kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, &kind.to_lowercase()))
}

async fn create_template(client: &kube::Client, template: Value) -> String {
    // Created in the version it is written in (`v1beta1` templates get that version's defaults).
    let version = template["apiVersion"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let gvk = GroupVersionKind::gvk("templates.gatekeeper.sh", &version, "ConstraintTemplate");
    let api: Api<DynamicObject> =
        Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "constrainttemplates"));
    let object: DynamicObject = serde_json::from_value(template).unwrap();
    let created = api.create(&PostParams::default(), &object).await.expect("create template");
    created.metadata.name.unwrap()
}

/// Poll `check` until it gives a value, at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < WAIT, "timed out after {WAIT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The template's status once the controller has written one for its current generation.
async fn status_of(client: &kube::Client, name: &str) -> TemplateStatus {
    eventually(&format!("status of ConstraintTemplate {name}"), || async {
        let template = templates(client).get(name).await.ok()?;
        let generation = template.metadata.generation.unwrap_or_default();
        let status: TemplateStatus = serde_json::from_value(template.data.get("status")?.clone()).ok()?;
        status.by_pod.iter().any(|p| p.observed_generation == generation).then_some(status)
    })
    .await
}

fn library_template() -> Value {
    let text = policy_library::template("container-allowed-images", 2).expect("library template");
    serde_yaml::from_str(text).unwrap()
}

/// A small `v1` template of our own with an integer parameter.
fn replicas_template(kind: &str, api_version: &str, rego_line: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {
            "crd": {"spec": {
                "names": {"kind": kind, "shortNames": ["rep"]},
                "validation": {"openAPIV3Schema": {"type": "object", "properties": {
                    "maxReplicas": {"type": "integer"},
                    "nested": {"type": "object", "properties": {"inner": {"type": "integer"}}}
                }}}
            }},
            "targets": [{
                "target": "admission.k8s.gatekeeper.sh",
                "rego": format!("package {}\n\nviolation[{{\"msg\": msg}}] {{\n  {rego_line}\n  msg := \"too many\"\n}}\n", kind.to_lowercase()),
            }]
        }
    })
}

fn constraint(kind: &str, name: &str, parameters: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"match": {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]}, "parameters": parameters}
    }))
    .unwrap()
}

/// The API server's refusal of a constraint, as kubectl would print it.
async fn refusal(api: &Api<DynamicObject>, object: &DynamicObject) -> String {
    match api.create(&PostParams::default(), object).await {
        Ok(_) => panic!("the API server accepted {:?}", object.metadata.name),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message.clone()
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn a_library_template_gets_its_constraint_crd_and_typed_parameters() {
    serial(async {
        let client = client().await;
        let name = create_template(&client, library_template()).await;
        assert_eq!(name, "k8sazurev2containerallowedimages");
        let status = status_of(&client, &name).await;
        assert!(status.created, "{status:?}");
        assert_eq!(status.by_pod[0].id, "gatekeeper-controller-manager-0");
        assert!(status.by_pod[0].errors.is_empty(), "{status:?}");

        let crd = crds(&client).get("k8sazurev2containerallowedimages.constraints.gatekeeper.sh").await.unwrap();
        let names = &crd.spec.names;
        assert_eq!(names.kind, "K8sAzureV2ContainerAllowedImages");
        assert_eq!(names.list_kind.as_deref(), Some("K8sAzureV2ContainerAllowedImagesList"));
        assert_eq!(names.categories.as_deref(), Some(&CATEGORIES.map(String::from)[..]));
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(crd.labels().get(CONSTRAINT_LABEL.0).map(String::as_str), Some(CONSTRAINT_LABEL.1));
        let versions: Vec<(&str, bool)> = crd.spec.versions.iter().map(|v| (v.name.as_str(), v.storage)).collect();
        assert_eq!(versions, [("v1beta1", true), ("v1alpha1", false), ("v1", false)]);

        let kind = "K8sAzureV2ContainerAllowedImages";
        let api = constraints(&client, kind);
        let good =
            constraint(kind, "allowed-images", json!({"imageRegex": "^myacr\\.io/.+$", "excludedContainers": []}));
        let created = api.create(&PostParams::default(), &good).await.expect("a well-typed constraint is accepted");
        assert_eq!(created.data["spec"]["enforcementAction"], json!("deny"), "enforcementAction defaults to deny");

        let bad = constraint(kind, "bad-images", json!({"imageRegex": "^x$", "excludedContainers": "nginx"}));
        let message = refusal(&api, &bad).await;
        eprintln!("API server refusal: {message}");
        assert!(message.contains("spec.parameters.excludedContainers"), "{message}");
        assert!(message.contains("must be of type array"), "{message}");

        let long = constraint(kind, &"x".repeat(64), json!({}));
        let message = refusal(&api, &long).await;
        assert!(message.contains("metadata.name"), "{message}");

        delete_template_and_wait_for_crd(&client, &name).await;
    });
}

#[test]
fn an_integer_parameter_refuses_a_string_and_legacy_templates_keep_unknown_fields() {
    serial(async {
        let client = client().await;
        let kind = "K8sTestMaxReplicas";
        let name = create_template(
            &client,
            replicas_template(kind, "templates.gatekeeper.sh/v1", "input.parameters.maxReplicas < 1"),
        )
        .await;
        assert!(status_of(&client, &name).await.created);
        let api = constraints(&client, kind);
        api.create(&PostParams::default(), &constraint(kind, "ok", json!({"maxReplicas": 3}))).await.unwrap();
        let message = refusal(&api, &constraint(kind, "string", json!({"maxReplicas": "three"}))).await;
        eprintln!("API server refusal: {message}");
        assert!(
            message.contains("spec.parameters.maxReplicas in body must be of type integer: \"string\""),
            "{message}"
        );
        let crd = crds(&client).get(&constraint_crd_name(kind)).await.unwrap();
        assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["rep".to_string()][..]));
        delete_template_and_wait_for_crd(&client, &name).await;

        // v1beta1: legacySchema defaults to true; types are still checked, unknown fields are kept.
        let kind = "K8sTestLegacyReplicas";
        let name = create_template(
            &client,
            replicas_template(kind, "templates.gatekeeper.sh/v1beta1", "input.parameters.maxReplicas < 1"),
        )
        .await;
        let stored = templates(&client).get(&name).await.unwrap();
        assert_eq!(stored.data["spec"]["crd"]["spec"]["validation"]["legacySchema"], json!(true));
        assert!(status_of(&client, &name).await.created);
        let api = constraints(&client, kind);
        let extra =
            constraint(kind, "extra", json!({"maxReplicas": 3, "bogus": 1, "nested": {"inner": 1, "extra": 2}}));
        let created = api.create(&PostParams::default(), &extra).await.unwrap();
        assert_eq!(created.data["spec"]["parameters"]["bogus"], json!(1));
        assert_eq!(created.data["spec"]["parameters"]["nested"]["extra"], json!(2));
        let message = refusal(&api, &constraint(kind, "string", json!({"maxReplicas": "three"}))).await;
        assert!(message.contains("must be of type integer"), "{message}");
        delete_template_and_wait_for_crd(&client, &name).await;
    });
}

#[test]
fn a_template_with_a_rego_syntax_error_reports_where() {
    serial(async {
        let client = client().await;
        let kind = "K8sTestBrokenRego";
        let name =
            create_template(&client, replicas_template(kind, "templates.gatekeeper.sh/v1", "input.x ==== 1")).await;
        let status = status_of(&client, &name).await;
        eprintln!("status of the broken template: {}", serde_json::to_string(&status).unwrap());
        assert!(!status.created, "{status:?}");
        let error = &status.by_pod[0].errors[0];
        assert_eq!(error.code, "rego_parse_error");
        // regorus points at the rule whose body does not parse (line 3) or at the bad line (4).
        let line = error.location.strip_prefix("spec.targets[0].rego:").and_then(|l| l.split(':').next());
        assert!(matches!(line, Some("3" | "4")), "{error:?}");
        assert!(error.message.contains(&format!("rego spec.targets[0].rego: line {}", line.unwrap())), "{error:?}");
        assert!(crds(&client).get_opt(&constraint_crd_name(kind)).await.unwrap().is_none());

        // Fixing the template creates the CRD and clears the errors.
        let fixed = replicas_template(kind, "templates.gatekeeper.sh/v1", "input.x == 1");
        let mut current = templates(&client).get(&name).await.unwrap();
        current.data["spec"] = fixed["spec"].clone();
        templates(&client).replace(&name, &PostParams::default(), &current).await.unwrap();
        let status = eventually("the fixed template to be created", || async {
            let status = status_of(&client, &name).await;
            status.created.then_some(status)
        })
        .await;
        assert!(status.by_pod[0].errors.is_empty());
        delete_template_and_wait_for_crd(&client, &name).await;
    });
}

async fn delete_template_and_wait_for_crd(client: &kube::Client, name: &str) {
    templates(client).delete(name, &DeleteParams::default()).await.unwrap();
    let crd = format!("{name}.constraints.gatekeeper.sh");
    eventually(&format!("CRD {crd} to go away"), || async {
        crds(client).get_opt(&crd).await.ok().and_then(|found| found.is_none().then_some(()))
    })
    .await;
}

#[test]
fn every_library_template_is_created_and_takes_its_definition_values() {
    serial(async {
        let client = client().await;
        let mut names = Vec::new();
        for entry in policy_library::all() {
            let template: Value = serde_yaml::from_str(entry.template).unwrap();
            names.push((create_template(&client, template).await, entry));
        }
        for (name, entry) in &names {
            let status = status_of(&client, name).await;
            assert!(status.created, "{}/v{}: {status:?}", entry.slug, entry.version);
            let Some(values) = entry.definition_values else { continue };
            let constraint: DynamicObject = serde_yaml::from_str(values).unwrap();
            let kind = constraint.types.as_ref().unwrap().kind.clone();
            constraints(&client, &kind)
                .create(&PostParams::default(), &constraint)
                .await
                .unwrap_or_else(|e| panic!("{}/v{}: definition values refused: {e}", entry.slug, entry.version));
        }
        for (name, _) in &names {
            delete_template_and_wait_for_crd(&client, name).await;
        }
    });
}

#[test]
fn a_schema_the_api_server_refuses_is_reported_as_a_create_error() {
    serial(async {
        let client = client().await;
        let kind = "K8sTestUntypedParameter";
        let mut template = replicas_template(kind, "templates.gatekeeper.sh/v1", "input.x == 1");
        template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]["free"] = json!({});
        let name = create_template(&client, template).await;
        let status = status_of(&client, &name).await;
        eprintln!("status of the untyped-schema template: {}", serde_json::to_string(&status).unwrap());
        assert!(!status.created, "{status:?}");
        let error = &status.by_pod[0].errors[0];
        assert_eq!(error.code, "create_error");
        assert!(error.message.contains("properties[free].type: Required value"), "{error:?}");
        templates(&client).delete(&name, &DeleteParams::default()).await.unwrap();
    });
}

#[test]
fn a_deleted_constraint_crd_comes_back() {
    serial(async {
        let client = client().await;
        let kind = "K8sTestRecreated";
        let name =
            create_template(&client, replicas_template(kind, "templates.gatekeeper.sh/v1", "input.x == 1")).await;
        assert!(status_of(&client, &name).await.created);
        let crd_name = constraint_crd_name(kind);
        let first = crds(&client).get(&crd_name).await.unwrap().metadata.uid;
        crds(&client).delete(&crd_name, &DeleteParams::default()).await.unwrap();
        eventually("the constraint CRD to be recreated", || async {
            let crd = crds(&client).get_opt(&crd_name).await.ok()??;
            let established = crd
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            (crd.metadata.uid != first && crd.metadata.deletion_timestamp.is_none() && established).then_some(())
        })
        .await;
        delete_template_and_wait_for_crd(&client, &name).await;
    });
}

#[test]
fn an_edited_constraint_crd_is_reverted_without_rewriting_the_template() {
    serial(async {
        let client = client().await;
        let kind = "K8sTestReverted";
        let name =
            create_template(&client, replicas_template(kind, "templates.gatekeeper.sh/v1", "input.x == 1")).await;
        assert!(status_of(&client, &name).await.created);
        let version_before = templates(&client).get(&name).await.unwrap().metadata.resource_version;
        let crd_name = constraint_crd_name(kind);
        let patch = json!({"spec": {"names": {"categories": ["other"]}}});
        crds(&client).patch(&crd_name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        eventually("the controller to restore the categories", || async {
            let crd = crds(&client).get(&crd_name).await.ok()?;
            (crd.spec.names.categories.as_deref() == Some(&CATEGORIES.map(String::from)[..])).then_some(())
        })
        .await;
        let version_after = templates(&client).get(&name).await.unwrap().metadata.resource_version;
        assert_eq!(version_before, version_after, "an unchanged status is not written again");
        delete_template_and_wait_for_crd(&client, &name).await;
    });
}
