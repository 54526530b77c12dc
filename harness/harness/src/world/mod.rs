//! The cucumber World: one scenario's view of the product, and the domain API its steps call.
//!
//! Each scenario gets its own Azure subscription (with its own principal and token), resource
//! group, managed cluster and Kubernetes namespaces, so scenarios never see each other's state.
//! Step functions (in `src/steps/`) stay thin and call the methods here and in [`azure`],
//! [`addon`] and [`kubernetes`].

pub mod addon;
pub mod azure;
pub mod environment;
pub mod gatekeeper_enforcement;
pub mod gatekeeper_objects;
pub mod kubernetes;

use std::sync::atomic::{AtomicUsize, Ordering};

use azure_sim::AddonGeneration;

use crate::az::{AzCli, AzOutput};
use crate::report::Outcome;
use crate::runner::ScenarioHooks;

pub use environment::{CURRENT_ADDON, Environment, Lease, lease};
pub use kubernetes::Admission;

static SCENARIOS: AtomicUsize = AtomicUsize::new(0);

/// One scenario's state.
#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct AksWorld {
    pub env: &'static Environment,
    /// Holds `env` for this scenario alone; returned to the pool when the World is dropped.
    _lease: Lease,
    /// A short id, unique in the run, used in namespace names.
    pub id: String,
    pub subscription: azure_sim::SubscriptionCredentials,
    pub az: AzCli,
    /// The last `az` command's output.
    pub last_az: Option<AzOutput>,
    /// The managed cluster the scenario works with (ARM id), once created.
    pub cluster_id: Option<String>,
    pub resource_group: String,
    pub cluster_name: String,
    pub namespaces: kubernetes::Namespaces,
    /// The last Kubernetes write and what the API server answered.
    pub last_admission: Option<Admission>,
    /// The warnings the API server sent back with the last create (admission webhooks' `warnings`).
    pub last_warnings: Vec<String>,
    /// Objects the scenario created, deleted one by one at teardown: a deleted namespace lingers
    /// for kube-controller-manager's 5 s grace period, and its objects would otherwise stay
    /// replicated into the next scenario's webhook (a unique-hostname check would see them).
    pub created_objects: Vec<(serde_json::Value, String)>,
    /// Which add-on the scenario's subscription gets: the 2019 preview unless tagged
    /// `@current-addon` (see [`CURRENT_ADDON`]).
    pub addon_generation: AddonGeneration,
    /// Add-on settings for the next enable (failure policy, intervals), the generation's defaults
    /// unless a step changes them.
    pub addon_settings: crate::addon_lifecycle::AddonSettings,
    /// Fault rules this scenario injected into azure-sim.
    pub injected_faults: bool,
}

impl std::fmt::Debug for AksWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AksWorld")
            .field("id", &self.id)
            .field("subscription", &self.subscription.subscription_id)
            .field("cluster_id", &self.cluster_id)
            .field("last_az", &self.last_az)
            .field("last_admission", &self.last_admission)
            .finish_non_exhaustive()
    }
}

impl AksWorld {
    /// A fresh scenario: its own subscription (on the 2019 preview until [`Self::use_addon_generation`]),
    /// logged-in `az`, and namespace suffix.
    pub async fn new() -> anyhow::Result<Self> {
        let lease = lease().await?;
        let env = lease.env();
        let n = SCENARIOS.fetch_add(1, Ordering::Relaxed);
        let id = format!("s{n}");
        let subscription = env.sim.new_subscription(&format!("scenario {id}"));
        let generation = AddonGeneration::Preview2019;
        env.sim.set_addon_generation(&subscription.subscription_id, generation)?;
        let az = AzCli::for_sim(&env.sim, &subscription.subscription_id).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(Self {
            env,
            _lease: lease,
            namespaces: kubernetes::Namespaces::new(&id),
            id,
            subscription,
            az,
            last_az: None,
            cluster_id: None,
            resource_group: "MyResourceGroup".into(),
            cluster_name: "MyAKSCluster".into(),
            last_admission: None,
            last_warnings: Vec::new(),
            created_objects: Vec::new(),
            addon_generation: generation,
            addon_settings: crate::addon_lifecycle::AddonSettings::for_generation(generation),
            injected_faults: false,
        })
    }

    /// Puts the scenario's subscription on `generation`'s add-on, with that add-on's default
    /// settings. Before the add-on is enabled: an installed add-on stays as it is.
    pub fn use_addon_generation(&mut self, generation: AddonGeneration) -> anyhow::Result<()> {
        self.env.sim.set_addon_generation(&self.subscription.subscription_id, generation)?;
        // Today's az knows the add-on without the aks-preview extension.
        self.az.set_azure_policy_built_in(generation == AddonGeneration::Current);
        self.addon_generation = generation;
        self.addon_settings = crate::addon_lifecycle::AddonSettings::for_generation(generation);
        Ok(())
    }

    pub fn client(&self) -> kube::Client {
        self.env.cluster.client()
    }

    /// The last `az` output, or an error saying no command ran.
    pub fn last_az(&self) -> anyhow::Result<&AzOutput> {
        self.last_az.as_ref().ok_or_else(|| anyhow::anyhow!("no az command has run in this scenario"))
    }

    /// Whether this scenario's cluster has the add-on's webhook process running.
    pub async fn webhook_running(&self) -> bool {
        match &self.cluster_id {
            Some(id) => self.env.addon.with_installed(id, |i| i.webhook.is_running()).await.unwrap_or(false),
            None => false,
        }
    }

    pub fn cluster_id(&self) -> anyhow::Result<&str> {
        self.cluster_id.as_deref().ok_or_else(|| anyhow::anyhow!("the scenario has no AKS cluster yet"))
    }

    /// Replaces `{cluster-id}`, `{subscription}`, `{resource-group}`, `{last-output}` (the previous
    /// `az` command's stdout) and `{ns:<name>}` (a scenario namespace's real name) in step text.
    pub fn expand(&self, text: &str) -> String {
        let mut out = text
            .replace("{subscription}", &self.subscription.subscription_id)
            .replace("{resource-group}", &self.resource_group);
        if let Some(id) = &self.cluster_id {
            out = out.replace("{cluster-id}", id);
        }
        if let Some(last) = &self.last_az {
            out = out.replace("{last-output}", last.stdout.trim());
        }
        while let Some(start) = out.find("{ns:") {
            let Some(len) = out[start..].find('}') else { break };
            let logical = out[start + 4..start + len].to_string();
            out.replace_range(start..start + len + 1, &self.namespaces.real(&logical));
        }
        out
    }
}

impl ScenarioHooks for AksWorld {
    /// A scenario tagged `@current-addon` (itself, its rule or its feature) gets today's add-on.
    async fn setup(
        &mut self,
        feature: &cucumber::gherkin::Feature,
        rule: Option<&cucumber::gherkin::Rule>,
        scenario: &cucumber::gherkin::Scenario,
    ) -> anyhow::Result<()> {
        if crate::runner::all_tags(feature, rule, scenario).any(|tag| tag == CURRENT_ADDON) {
            self.use_addon_generation(AddonGeneration::Current)?;
        }
        Ok(())
    }

    async fn teardown(&mut self, _scenario: &cucumber::gherkin::Scenario, _outcome: Outcome) -> anyhow::Result<()> {
        self.cleanup().await
    }
}

impl AksWorld {
    /// Stops and removes everything the scenario started: faults, the add-on, created objects and
    /// namespaces. Collects every problem instead of stopping at the first.
    pub async fn cleanup(&mut self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if self.injected_faults {
            self.env.sim.faults().clear();
        }
        if let Some(id) = &self.cluster_id
            && let Err(e) = self.env.addon.reset(id).await
        {
            problems.push(format!("add-on removal: {e}"));
        }
        let client = self.client();
        for (object, ns) in self.created_objects.drain(..).rev() {
            if let Err(e) = kubernetes::delete(&client, &object, Some(&ns)).await {
                problems.push(format!("delete from {ns}: {e}"));
            }
        }
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
        for ns in self.namespaces.created() {
            if let Err(e) = api.delete(ns, &Default::default()).await {
                problems.push(format!("delete namespace {ns}: {e}"));
            }
        }
        anyhow::ensure!(problems.is_empty(), "teardown: {}", problems.join("; "));
        Ok(())
    }
}
