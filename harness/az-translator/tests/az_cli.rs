//! The built-in `az` translator against a real in-process azure-sim over HTTPS: the documented seed
//! sequence end to end, the preview's refusals, the CLI's output formats, and what is not simulated.

use std::sync::Arc;
use std::time::Duration;

use az_translator::{AzCli, AzOutput};
use azure_sim::{AzureSim, NoopAddonController, RunningSim, SimConfig};
use serde_json::{Value, json};

const IMAGES_GUID: &str = "5f86cb6e-c4da-441b-807c-44bd0cc14e66";

/// Asserts that `text` contains every needle, showing the text when it does not.
fn has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

struct Fixture {
    sim: RunningSim,
    az: AzCli,
    sub: String,
}

async fn fixture(config: SimConfig) -> Fixture {
    pki::install_ring_provider();
    let sim = AzureSim::start(config, Arc::new(NoopAddonController)).await.expect("start azure-sim");
    let sub = sim.new_subscription("az-cli test").subscription_id;
    // The CLI of 2019 enabled the 2019 preview add-on, behind its preview features.
    sim.set_addon_generation(&sub, azure_sim::AddonGeneration::Preview2019).expect("preview subscription");
    let az = AzCli::for_sim(&sim, &sub).expect("az");
    Fixture { sim, az, sub }
}

impl Fixture {
    /// Runs a command that must succeed.
    async fn ok(&mut self, line: &str) -> AzOutput {
        let out = self.az.run(line).await;
        assert_eq!(out.exit_code, 0, "{line}\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
        out
    }

    /// Runs a command that must fail with `code`.
    async fn fails(&mut self, line: &str, code: i32) -> AzOutput {
        let out = self.az.run(line).await;
        assert_eq!(out.exit_code, code, "{line}\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        out
    }

    fn approve_both(&self) {
        self.sim.approve_feature(&self.sub, "Microsoft.ContainerService", "AKS-AzurePolicyAutoApprove").unwrap();
        self.sim.approve_feature(&self.sub, "Microsoft.PolicyInsights", "AKS-DataplaneAutoApprove").unwrap();
    }

    fn cluster_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/MyResourceGroup/providers/Microsoft.ContainerService/managedClusters/MyAKSCluster",
            self.sub
        )
    }

    /// Providers registered, a resource group and a cluster (no add-on yet).
    async fn cluster(&mut self) {
        self.ok("az provider register -n Microsoft.ContainerService").await;
        self.ok("az provider register --namespace Microsoft.PolicyInsights").await;
        self.ok("az group create --name MyResourceGroup --location westus2").await;
        let created = self.ok("az aks create --resource-group MyResourceGroup --name MyAKSCluster --kubernetes-version 1.14.8 --generate-ssh-keys").await;
        assert_eq!(created.json()["provisioningState"], "Succeeded");
    }

    /// The documented opt-in: both features, approval, provider re-registration, aks-preview.
    async fn opt_in(&mut self) {
        self.ok("az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove").await;
        self.ok("az feature register --namespace Microsoft.PolicyInsights --name AKS-DataplaneAutoApprove").await;
        self.approve_both();
        self.ok("az provider register -n Microsoft.ContainerService").await;
        self.ok("az provider register -n Microsoft.PolicyInsights").await;
        self.ok("az extension add --name aks-preview").await;
    }
}

#[tokio::test]
async fn seed_sequence_end_to_end() {
    let mut f = fixture(SimConfig::default()).await;

    // 1. providers, printing nothing.
    for ns in ["Microsoft.ContainerService", "Microsoft.PolicyInsights"] {
        let out = f.ok(&format!("az provider register --namespace {ns}")).await;
        assert_eq!(out.stdout, "");
    }

    // 2. features → Pending, with the propagation warning.
    let out =
        f.ok("az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove").await;
    assert_eq!(out.json()["properties"]["state"], "Pending");
    assert_eq!(out.json()["name"], "Microsoft.ContainerService/AKS-AzurePolicyAutoApprove");
    has(
        &out.stderr,
        &[
            "WARNING: Once the feature 'AKS-AzurePolicyAutoApprove' is registered, invoking 'az provider register -n Microsoft.ContainerService' is required",
        ],
    );
    let out = f.ok("az feature register --namespace Microsoft.PolicyInsights --name AKS-DataplaneAutoApprove").await;
    assert_eq!(out.json()["properties"]["state"], "Pending");
    let table = f
        .ok(r#"az feature list -o table --query "[?contains(name, 'Microsoft.ContainerService/AKS-AzurePolicyAutoApprove')].{Name:name,State:properties.state}""#)
        .await;
    assert_eq!(table.stdout.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(), ["Name", "State"]);
    assert!(table.stdout.lines().nth(2).unwrap().ends_with("Pending"), "{}", table.stdout);

    // 3. Microsoft approves; show says Registered; providers re-registered.
    f.approve_both();
    let shown = f.ok("az feature show --namespace Microsoft.PolicyInsights --name AKS-DataplaneAutoApprove -o tsv --query properties.state").await;
    assert_eq!(shown.stdout, "Registered\n");
    f.ok("az provider register -n Microsoft.ContainerService").await;
    f.ok("az provider register -n Microsoft.PolicyInsights").await;
    let state = f.ok("az provider show -n Microsoft.ContainerService --query registrationState -o tsv").await;
    assert_eq!(state.stdout, "Registered\n");

    // 4. aks-preview 0.4.0, a cluster, enable-addons.
    f.ok("az extension add --name aks-preview --version 0.4.0").await;
    assert_eq!(f.ok("az extension show --name aks-preview --query version -o tsv").await.stdout, "0.4.0\n");
    f.ok("az group create --name MyResourceGroup --location westus2").await;
    let created =
        f.ok("az aks create --resource-group MyResourceGroup --name MyAKSCluster --kubernetes-version 1.14.8").await;
    assert_eq!(created.json()["kubernetesVersion"], "1.14.8");
    assert_eq!(created.json()["resourceGroup"], "MyResourceGroup");
    let enabled =
        f.ok("az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup").await;
    assert_eq!(enabled.json()["addonProfiles"]["azurepolicy"]["enabled"], true);
    assert_eq!(enabled.json()["provisioningState"], "Succeeded");
    has(&enabled.stderr, &["altered by the following extension: aks-preview"]);
    let shown = f.ok("az aks show --name MyAKSCluster --resource-group MyResourceGroup --query addonProfiles.azurepolicy.enabled").await;
    assert_eq!(shown.stdout.trim(), "true");
    let names = f.ok("az aks list --query [].name -o tsv").await;
    assert_eq!(names.stdout, "MyAKSCluster\n");

    // 5. the Kubernetes-service built-ins, found with the documented client-side query.
    let defs = f.ok(r#"az policy definition list --query "[?policyType=='BuiltIn' && metadata.category=='Kubernetes service']""#).await;
    let defs = defs.json();
    let guids: Vec<&str> = defs.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(guids.len(), 9, "{guids:?}");
    assert!(guids.contains(&IMAGES_GUID));
    let shown = f.ok(&format!("az policy definition show --name {IMAGES_GUID} --query mode -o tsv")).await;
    assert_eq!(shown.stdout, "Microsoft.ContainerService.Data\n");

    // 6. an assignment with parameters at the cluster's scope.
    let cluster = f.cluster_id();
    let assigned = f
        .ok(&format!(
            r#"az policy assignment create --name images --display-name "Allowed images" --policy {IMAGES_GUID} --scope {cluster} --params '{{"allowedContainerImagesRegex": {{"value": "^.+azurecr.io/.+$"}}}}'"#
        ))
        .await
        .json();
    assert_eq!(assigned["parameters"]["allowedContainerImagesRegex"]["value"], "^.+azurecr.io/.+$");
    assert_eq!(
        assigned["policyDefinitionId"],
        format!("/providers/Microsoft.Authorization/policyDefinitions/{IMAGES_GUID}")
    );
    assert_eq!(assigned["enforcementMode"], "Default");
    assert_eq!(assigned["displayName"], "Allowed images");
    let listed = f.ok(&format!("az policy assignment list --scope {cluster} --query [].name -o tsv")).await;
    assert_eq!(listed.stdout, "images\n");
    let shown = f.ok(&format!("az policy assignment show --name images --scope {cluster} --query scope -o tsv")).await;
    assert_eq!(shown.stdout.trim(), cluster);

    // 7. compliance: summary (always one element), states, an on-demand scan.
    let summary = f.ok(&format!("az policy state summarize --resource {cluster}")).await.json();
    assert_eq!(summary["results"]["nonCompliantResources"], 0, "{summary}");
    let states = f
        .ok(&format!(
            "az policy state list --resource {cluster} --filter \"complianceState eq 'NonCompliant'\" --top 5"
        ))
        .await;
    assert_eq!(states.json(), json!([]));
    f.ok("az policy state trigger-scan --resource-group MyResourceGroup").await;

    // 8. disable-addons, then the assignment goes.
    let disabled =
        f.ok("az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup").await;
    assert_eq!(disabled.json()["addonProfiles"]["azurepolicy"]["enabled"], false);
    let out =
        f.ok("az aks show -n MyAKSCluster -g MyResourceGroup --query addonProfiles.azurepolicy.enabled -o tsv").await;
    assert_eq!(out.stdout, "False\n");
    f.ok(&format!("az policy assignment delete --name images --scope {cluster}")).await;
    assert_eq!(f.ok(&format!("az policy assignment list --scope {cluster}")).await.json(), json!([]));
    f.ok("az group delete --name MyResourceGroup --yes").await;
    f.fails("az group show --name MyResourceGroup", 1).await;
    f.sim.shutdown().await;
}

#[tokio::test]
async fn enabling_before_the_opt_in_shows_the_arm_error_code() {
    let mut f = fixture(SimConfig::default()).await;
    f.cluster().await;
    f.ok("az extension add --name aks-preview").await;
    let line = "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup";

    // Not registered at all.
    let out = f.fails(line, 1).await;
    has(&out.stderr, &["ERROR: (AddonFeatureNotRegistered) "]);
    has(&out.stderr, &["AKS-AzurePolicyAutoApprove"]);

    // Pending (manual approval outstanding).
    f.ok("az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove").await;
    let out = f.fails(line, 1).await;
    has(&out.stderr, &["(AddonFeatureNotRegistered)", "Pending"]);

    // Approved, but the provider was not re-registered afterwards.
    f.sim.approve_feature(&f.sub, "Microsoft.ContainerService", "AKS-AzurePolicyAutoApprove").unwrap();
    let out = f.fails(line, 1).await;
    has(&out.stderr, &["(AddonFeatureNotRegistered)", "has not"]);

    // The documented last step fixes it.
    f.ok("az provider register -n Microsoft.ContainerService").await;
    let out = f.ok(line).await;
    assert_eq!(out.json()["addonProfiles"]["azurepolicy"]["enabled"], true);
}

#[tokio::test]
async fn azure_policy_needs_aks_preview_0_4_0() {
    let mut f = fixture(SimConfig { auto_approve_features: true, ..SimConfig::default() }).await;
    f.cluster().await;
    let line = "az aks enable-addons -a azure-policy -n MyAKSCluster -g MyResourceGroup";

    // Core az of 2019 did not know the add-on.
    let out = f.fails(line, 1).await;
    has(&out.stderr, &["KeyError: 'azure-policy'"]);
    has(&out.stderr, &["command_modules/acs/custom.py"]);

    // Neither did aks-preview before 0.4.0.
    f.ok("az extension add --name aks-preview --version 0.3.2").await;
    let out = f.fails(line, 1).await;
    has(&out.stderr, &["azext_aks_preview/custom.py", "KeyError: 'azure-policy'"]);
    let already = f.ok("az extension add --name aks-preview").await;
    has(&already.stderr, &["already exists"]);

    f.ok("az extension remove --name aks-preview").await;
    f.fails("az extension show --name aks-preview", 1).await;
    f.ok("az extension add --name aks-preview --version 0.4.0").await;
    let listed = f.ok("az extension list --query [].name -o tsv").await;
    assert_eq!(listed.stdout, "aks-preview\n");
    f.opt_in().await;
    f.ok(line).await;

    // disable-addons on a cluster that never had the add-on fails client-side.
    f.ok("az aks create -g MyResourceGroup -n Other -k 1.14.8").await;
    let out = f.fails("az aks disable-addons -a azure-policy -n Other -g MyResourceGroup", 1).await;
    assert_eq!(out.stderr.lines().last().unwrap(), "ERROR: The addon azurepolicy is not installed.");

    let out = f.fails("az extension add --name not-an-extension", 1).await;
    has(&out.stderr, &["No matching extensions for 'not-an-extension'"]);
    let out = f.ok("az version").await;
    assert_eq!(out.json()["extensions"]["aks-preview"], "0.4.0");
    assert!(f.ok("az --version").await.stdout.starts_with("azure-cli                         2.0.76"));
}

#[tokio::test]
async fn arm_errors_and_unregistered_providers() {
    let mut f = fixture(SimConfig::default()).await;
    f.ok("az group create -n rg -l westus2").await;
    let out = f.fails("az aks create -g rg -n c1 --kubernetes-version 1.14.8", 1).await;
    assert!(out.stderr.starts_with("ERROR: (MissingSubscriptionRegistration) The subscription is not registered to use namespace 'Microsoft.ContainerService'"), "{}", out.stderr);
    let out = f.fails("az aks show -g rg -n nope", 1).await;
    has(&out.stderr, &["(ResourceNotFound)"]);
    let out = f.fails("az policy definition show --name 00000000-0000-0000-0000-000000000000", 1).await;
    has(&out.stderr, &["(PolicyDefinitionNotFound)"]);
    let out =
        f.fails("az policy assignment create --name a --policy 5f86cb6e-c4da-441b-807c-44bd0cc14e66 -g rg", 1).await;
    has(&out.stderr, &["(MissingPolicyParameter)"]);
    let out = f.fails(r#"az policy assignment create --name a --policy 5f86cb6e-c4da-441b-807c-44bd0cc14e66 -g rg --params '{"allowedContainerImagesRegex": "x"}'"#, 1).await;
    has(&out.stderr, &["(InvalidPolicyParameters)"]);
    let out = f.fails("az policy state list -g rg", 1).await;
    has(&out.stderr, &["(MissingSubscriptionRegistration)"]);
}

#[tokio::test]
async fn assignments_with_params_file_not_scopes_and_enforcement_mode() {
    let mut f = fixture(SimConfig { auto_approve_features: true, ..SimConfig::default() }).await;
    f.cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let params = dir.path().join("params.json");
    std::fs::write(&params, r#"{"commaSeparatedListOfLabels": {"value": "test1,test2"}}"#).unwrap();
    let cluster = f.cluster_id();
    let out = f
        .ok(&format!(
            "az policy assignment create -n labels --policy /providers/Microsoft.Authorization/policyDefinitions/16c6ca72-89d2-4798-b87e-496f9de7fcb7 -g MyResourceGroup -p @{} --not-scopes {cluster} --enforcement-mode DoNotEnforce",
            params.display()
        ))
        .await
        .json();
    assert_eq!(out["notScopes"], json!([cluster]));
    assert_eq!(out["enforcementMode"], "DoNotEnforce");
    assert_eq!(out["scope"], format!("/subscriptions/{}/resourceGroups/MyResourceGroup", f.sub));
    // Strict scope match by default, as in the CLI: nothing at subscription level.
    assert_eq!(f.ok("az policy assignment list").await.json(), json!([]));
    assert_eq!(
        f.ok("az policy assignment list --disable-scope-strict-match --query length(@)").await.stdout.trim(),
        "1"
    );
    assert_eq!(f.ok("az policy assignment list -g MyResourceGroup --query [].name -o tsv").await.stdout, "labels\n");
    // A generated name when --name is omitted.
    let out = f.ok("az policy assignment create --policy 7ce7ac02-a5c6-45d6-8d1b-844feb1c1531 -g MyResourceGroup --query name -o tsv").await;
    assert_eq!(out.stdout.trim().len(), 22, "{}", out.stdout);
    let out =
        f.fails("az policy assignment create --policy 7ce7ac02-a5c6-45d6-8d1b-844feb1c1531 -e Sometimes", 2).await;
    has(&out.stderr, &["invalid choice: 'Sometimes'"]);
    let out = f.fails("az policy assignment create --policy x --scope /subscriptions/s -g rg", 1).await;
    has(&out.stderr, &["redundant"]);
}

#[tokio::test]
async fn provider_registration_in_progress_and_wait() {
    let mut f = fixture(SimConfig { provider_delay: Duration::from_millis(300), ..SimConfig::default() }).await;
    let out = f.ok("az provider register -n Microsoft.ContainerService").await;
    assert_eq!(
        out.stderr,
        "WARNING: Registering is still on-going. You can monitor using 'az provider show -n Microsoft.ContainerService'\n"
    );
    let out = f.ok("az provider register -n Microsoft.PolicyInsights --wait").await;
    assert_eq!(out.stderr, "");
    assert_eq!(
        f.ok("az provider show -n Microsoft.PolicyInsights --query registrationState -o tsv").await.stdout,
        "Registered\n"
    );
    let listed = f.ok("az provider list --query \"[?namespace=='Microsoft.Features'].registrationState\" -o tsv").await;
    assert_eq!(listed.stdout, "Registered\n");
}

#[tokio::test]
async fn unsupported_commands_and_bad_flags_fail_clearly() {
    let mut f = fixture(SimConfig::default()).await;
    let out = f.fails("az vm list", 2).await;
    assert!(
        out.stderr.starts_with("az vm list is not simulated by aks-policy-harness; supported: provider register,"),
        "{}",
        out.stderr
    );
    let out = f.fails("az aks upgrade -n c -g rg", 2).await;
    has(&out.stderr, &["az aks upgrade is not simulated"]);
    let out = f.fails("az feature list --bogus 1", 2).await;
    assert_eq!(out.stderr, "az feature list: error: unrecognized arguments: --bogus 1\n");
    let out = f.fails("az feature register --namespace Microsoft.ContainerService", 2).await;
    assert_eq!(out.stderr, "az feature register: error: the following arguments are required: --name/-n\n");
    let out = f.fails("az provider list --query '[?'", 2).await;
    has(&out.stderr, &["argument --query: invalid jmespath_type value"]);
    let out = f.fails("az provider list -o xml", 2).await;
    has(&out.stderr, &["invalid choice: 'xml'"]);
    let out = f.fails("kubectl get pods", 2).await;
    has(&out.stderr, &["must start with 'az'"]);
    let out = f.fails("az aks enable-addons -a monitoring -n c -g rg", 2).await;
    has(&out.stderr, &["not simulated"]);
    let out = f.fails("az feature list --query 'unterminated", 1).await;
    has(&out.stderr, &["unbalanced quotes"]);
    // Output formats, with the CLI's table columns for features and providers.
    assert_eq!(f.ok("az provider list -o none").await.stdout, "");
    let table = f.ok("az feature list -o table").await.stdout;
    assert_eq!(
        table.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["Name", "RegistrationState"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["Microsoft.PolicyInsights/AKS-DataplaneAutoApprove", "NotRegistered"])),
        "{table}"
    );
    let table = f.ok("az provider show -n Microsoft.ContainerService -o table").await.stdout;
    assert_eq!(
        table.lines().nth(2).unwrap().split_whitespace().collect::<Vec<_>>(),
        ["Microsoft.ContainerService", "RegistrationRequired", "NotRegistered"],
        "{table}"
    );
    let json = f.ok("az feature list").await;
    assert!(json.stdout.starts_with("[\n  {\n    \"id\""), "{}", json.stdout);
    assert!(f.ok("az feature list --help").await.stdout.contains("--namespace"));
    assert!(az_translator::supported_commands().contains(&"az policy state trigger-scan".to_string()));
    let value: Value = f.ok("az provider show -n Microsoft.Authorization").await.json();
    assert_eq!(value["registrationState"], "Registered");
}

#[tokio::test]
async fn throttled_requests_are_retried_like_msrest() {
    use azure_sim::{Fault, FaultRule};
    let mut f = fixture(SimConfig::default()).await;
    let faults = f.sim.faults();
    // Two 429s (Retry-After: 0) are absorbed by the CLI's retry policy.
    faults
        .inject(
            FaultRule::new("/subscriptions/*/providers/Microsoft.Features/*", Fault::Throttle { retry_after_secs: 0 })
                .times(2),
        )
        .unwrap();
    f.ok("az feature list").await;
    // Persistent 503s fail after the retries, with the ARM code.
    faults.inject(FaultRule::new("/subscriptions/*/providers", Fault::Status { status: 503 }).times(10)).unwrap();
    let out = f.fails("az provider list", 1).await;
    has(&out.stderr, &["ERROR: (ServiceUnavailable) "]);
    faults.clear();
    f.ok("az provider list").await;
}

/// A controller whose installs fail, as a broken add-on deployment would.
struct FailingInstall;

#[async_trait::async_trait]
impl azure_sim::AddonController for FailingInstall {
    async fn install(&self, _req: &azure_sim::AddonInstall) -> Result<(), azure_sim::AddonError> {
        Err(azure_sim::AddonError::NotReady("the webhook did not become ready".into()))
    }
    async fn uninstall(&self, _cluster_id: &str) -> Result<(), azure_sim::AddonError> {
        Ok(())
    }
    async fn trigger_scan(&self, _cluster_id: &str) -> Result<(), azure_sim::AddonError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_operation_reports_its_error_code() {
    pki::install_ring_provider();
    let sim =
        AzureSim::start(SimConfig { auto_approve_features: true, ..SimConfig::default() }, Arc::new(FailingInstall))
            .await
            .unwrap();
    let sub = sim.new_subscription("failing").subscription_id;
    let az = AzCli::for_sim(&sim, &sub).unwrap();
    let mut f = Fixture { sim, az, sub };
    f.cluster().await;
    f.opt_in().await;
    let out = f
        .fails("az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup", 1)
        .await;
    assert_eq!(
        out.stderr.lines().last().unwrap(),
        "ERROR: (AddonInstallFailed) Installing the azurepolicy add-on failed: the webhook did not become ready"
    );
    let state = f.ok("az aks show -n MyAKSCluster -g MyResourceGroup --query provisioningState -o tsv").await;
    assert_eq!(state.stdout, "Failed\n");
    // --no-wait returns at once, without output.
    f.ok("az aks create -g MyResourceGroup -n Quick -k 1.14.8 --no-wait").await;
}

#[tokio::test]
async fn policy_state_list_expands_the_current_addons_components() {
    let mut f = fixture(SimConfig { auto_approve_features: true, ..SimConfig::default() }).await;
    f.cluster().await;
    f.opt_in().await;
    f.ok("az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup").await;
    let cluster = f.cluster_id();
    // A current built-in (allowed images, Microsoft.Kubernetes.Data) by GUID, effect audit.
    let assigned = f
        .ok(&format!(
            r#"az policy assignment create --name images --policy febd0533-8e55-448f-b837-bd0e06f16469 --scope {cluster} --params '{{"allowedContainerImagesRegex": {{"value": "^myacr.azurecr.io/.+$"}}, "effect": {{"value": "audit"}}}}'"#
        ))
        .await
        .json();
    // The add-on reports one violating and one compliant pod.
    let pod = |name: &str, state: &str| {
        json!({"kind": "Pod", "version": "v1", "namespace": "default", "name": name, "complianceState": state,
               "timestamp": "2026-01-01T00:00:00Z"})
    };
    let report = json!({"reportId": "r1", "clusterId": cluster, "cycle": 1, "generatedAt": "2026-01-01T00:01:00Z",
        "assignments": [], "constraintAssignments": [{"assignmentId": assigned["id"], "complianceState": "NonCompliant",
            "components": [pod("nginx", "NonCompliant"), pod("app", "Compliant")]}]});
    let ca = reqwest::Certificate::from_pem(f.sim.ca_pem().unwrap().as_bytes()).unwrap();
    let http = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
    let posted = http
        .post(format!("{}/dataplane/v1/reports", f.sim.arm_url()))
        .bearer_auth(f.sim.token_for(&f.sub).unwrap())
        .header("Idempotency-Key", "r1")
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200, "{}", posted.text().await.unwrap());

    let expanded = f
        .ok(&format!(
            r#"az policy state list --resource {cluster} --expand "components($filter=ComplianceState eq 'NonCompliant')""#
        ))
        .await
        .json();
    assert_eq!(expanded[0]["complianceState"], "NonCompliant");
    assert_eq!(
        expanded[0]["components"],
        json!([{"id": "default/nginx", "type": "pod", "name": "nginx", "timestamp": "2026-01-01T00:00:00Z", "complianceState": "NonCompliant"}])
    );
    let query = r#"--expand "components($filter=ComplianceState eq 'NonCompliant' or ComplianceState eq 'Compliant')" --query "[0].components[].name" -o tsv"#;
    let both = f.ok(&format!("az policy state list --resource {cluster} {query}")).await;
    // Same timestamp: ordered by namespace and name.
    assert_eq!(both.stdout, "app\nnginx\n");
    let plain = f.ok(&format!("az policy state list --resource {cluster}")).await.json();
    assert!(plain[0].get("components").is_none());
}
