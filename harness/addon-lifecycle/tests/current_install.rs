//! Today's add-on installed into, reset in and removed from the real local API server
//! (`cluster::shared()`): the objects of design point 7, Gatekeeper registered and in force, the
//! Deployments' status, and removal down to nothing. A `harness = false` target, so the add-on's
//! processes can be this executable in a role (`dispatch_addon_process`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use addon_lifecycle::{AddonLifecycle, dispatch_addon_process};
use azure_sim::{AddonGeneration, AddonInstall, AzureSim, NoopAddonController, SimConfig};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};

const TEMPLATE: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sazurelifecycletest
  annotations: {constraint-template-installed-by: azure-policy-addon}
spec:
  crd: {spec: {names: {kind: K8sAzureLifecycleTest}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sazurelifecycletest
      violation[{"msg": "never"}] { false }
"#;
const CONSTRAINT_CRD: &str = "k8sazurelifecycletest.constraints.gatekeeper.sh";
const WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    if let Some(code) = dispatch_addon_process() {
        return code;
    }
    tokio::runtime::Runtime::new().expect("tokio runtime").block_on(install_reset_and_remove());
    println!("current_install: ok");
    ExitCode::SUCCESS
}

/// Polls `check` until it holds, for at most [`WAIT`].
async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

async fn ready(client: &kube::Client, ns: &str, name: &str) -> Option<i32> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), ns).get(name).await.ok()?;
    Some(deployment.status?.ready_replicas.unwrap_or(0))
}

async fn install_reset_and_remove() {
    pki::install_ring_provider();
    let cluster = cluster::shared().await.expect("local cluster");
    let client = cluster.client();
    let lifecycle = AddonLifecycle::new(cluster, cluster.run_dir().join("addon-lifecycle-current-install"));
    let sim = AzureSim::start(SimConfig::default(), Arc::new(NoopAddonController)).await.expect("azure-sim");
    let creds = sim.new_subscription("lifecycle test");
    let req = AddonInstall {
        cluster_id: format!(
            "/subscriptions/{}/resourcegroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
            creds.subscription_id
        ),
        dataplane_endpoint: sim.arm_url().to_string(),
        ca_pem: sim.ca_pem().map(String::from),
        tenant_id: creds.tenant_id.clone(),
        client_id: creds.client_id.clone(),
        client_secret: creds.client_secret.clone(),
        config: serde_json::Value::Null,
        generation: AddonGeneration::Current,
    };

    lifecycle.install(&req).await.expect("install");
    let generation = lifecycle.with_installed(&req.cluster_id, |i| i.generation).await.unwrap();
    assert_eq!(generation, AddonGeneration::Current);
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let config = configs.get("gatekeeper-validating-webhook-configuration").await.expect("registered");
    let hook = &config.webhooks.unwrap()[0];
    assert_eq!(hook.name, "validation.gatekeeper.sh");
    assert!(hook.client_config.ca_bundle.is_some(), "caBundle set");
    for (ns, name) in [
        ("gatekeeper-system", "gatekeeper-controller-manager"),
        ("gatekeeper-system", "gatekeeper-audit"),
        ("kube-system", "azure-policy"),
    ] {
        assert_eq!(ready(&client, ns, name).await, Some(1), "{ns}/{name} ready");
    }
    let roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(roles.get_opt("gatekeeper-manager-role").await.unwrap().is_some());
    assert!(roles.get_opt("azure-policy-addon").await.unwrap().is_some());

    // What the agent would install: a template (Gatekeeper generates its constraint CRD) and a
    // Constraint labelled managed-by.
    let templates: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("templates.gatekeeper.sh", "v1", "ConstraintTemplate", "constrainttemplates"),
    );
    let template: serde_json::Value = serde_yaml::from_str(TEMPLATE).unwrap();
    let apply = PatchParams::apply("lifecycle-test").force();
    templates.patch("k8sazurelifecycletest", &apply, &Patch::Apply(&template)).await.expect("template");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_until("constraint CRD created", || async { crds.get_opt(CONSTRAINT_CRD).await.unwrap().is_some() }).await;
    let constraints: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("constraints.gatekeeper.sh", "v1beta1", "K8sAzureLifecycleTest", "k8sazurelifecycletest"),
    );
    let constraint = serde_json::json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sAzureLifecycleTest",
        "metadata": {"name": "azurepolicy-lifecycle-test", "labels": {"managed-by": "azure-policy-addon"}},
        "spec": {"enforcementAction": "deny"}
    });
    // The CRD may not be Established yet: a bounded retry.
    let started = Instant::now();
    while let Err(e) = constraints.patch("azurepolicy-lifecycle-test", &apply, &Patch::Apply(&constraint)).await {
        assert!(started.elapsed() < WAIT, "constraint refused: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Between scenarios: the policies go, Gatekeeper's namespace and CRDs stay.
    lifecycle.reset(&req.cluster_id).await.expect("reset");
    assert!(configs.get_opt("gatekeeper-validating-webhook-configuration").await.unwrap().is_none());
    assert!(crds.get_opt(CONSTRAINT_CRD).await.unwrap().is_none(), "constraint CRD removed");
    assert!(templates.get_opt("k8sazurelifecycletest").await.unwrap().is_none(), "template removed");
    assert!(crds.get_opt("constrainttemplates.templates.gatekeeper.sh").await.unwrap().is_some());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("gatekeeper-system").await.unwrap().is_some());
    assert_eq!(ready(&client, "gatekeeper-system", "gatekeeper-audit").await, Some(0));

    // disable-addons: everything goes.
    lifecycle.install(&req).await.expect("install again");
    lifecycle.uninstall(&req.cluster_id, true).await.expect("uninstall");
    assert!(configs.get_opt("gatekeeper-validating-webhook-configuration").await.unwrap().is_none());
    assert!(namespaces.get_opt("gatekeeper-system").await.unwrap().is_none());
    for crd in ["constrainttemplates.templates.gatekeeper.sh", "configs.config.gatekeeper.sh"] {
        assert!(crds.get_opt(crd).await.unwrap().is_none(), "{crd} removed");
    }
    let kube_system: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-system");
    assert!(kube_system.get_opt("azure-policy").await.unwrap().is_none());
    assert!(roles.get_opt("gatekeeper-manager-role").await.unwrap().is_none());
    sim.shutdown().await;
}
