//! Gatekeeper's objects in the real API server, as `kubectl get` shows them to a user of today's
//! add-on: ConstraintTemplates, the Constraint that stands for an Azure assignment, its status, the
//! sync `Config`, the `validation.gatekeeper.sh` registration, and a bounded wait ([`wait_until`])
//! for what only changes asynchronously, such as the Deployment status the harness writes.
//!
//! Constraints are found the way a user finds them: by the `azure-policy-assignment-id` annotation
//! the add-on writes (reference §3.2), across every kind in `constraints.gatekeeper.sh`. Their
//! names are checked against the observed shape `azurepolicy-<template cut to 30>-<20 hex>`
//! separately ([`AksWorld::expand_constraint_names`]), so finding one does not presume its name.

use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use serde_json::Value;

use super::AksWorld;

/// The API group of every Constraint kind a template defines.
pub use gatekeeper::crds::constraint_crd::GROUP as CONSTRAINTS_GROUP;
/// The API group of ConstraintTemplates, and the name of their CRD.
pub use gatekeeper::crds::template_crd::{CRD_NAME as TEMPLATE_CRD, GROUP as TEMPLATES_GROUP};
/// Where Gatekeeper runs (and where its `Config` lives).
pub use gatekeeper::resources::GATEKEEPER_NAMESPACE;
use gatekeeper::resources::{config_resource, template_resource};
/// Gatekeeper's ValidatingWebhookConfiguration and its webhook.
pub use gatekeeper::webhook::registration::CONFIGURATION_NAME as WEBHOOK_CONFIGURATION;
pub const VALIDATION_WEBHOOK: &str = "validation.gatekeeper.sh";
/// How long a bounded wait lasts before it fails with what it last saw.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
/// The `{hex:<assignment>}` placeholder of step text.
const HEX_PLACEHOLDER: &str = "{hex:";

/// The Constraints of one kind, at the version the add-on writes (`v1beta1`), by the plural its
/// CRD names.
fn constraint_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource { plural: plural.into(), ..gatekeeper::resources::constraint_resource(kind) }
}

/// An object as JSON (what `kubectl get -o json` prints).
pub fn to_json(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The name of an object.
pub fn name_of(object: &DynamicObject) -> String {
    object.metadata.name.clone().unwrap_or_default()
}

/// Whether the object's assignment annotation holds `assignment_id` (ids compare case-insensitively,
/// as ARM's do).
fn names_assignment(object: &DynamicObject, assignment_id: &str) -> bool {
    object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(contracts::addon_objects::ASSIGNMENT_ID))
        .is_some_and(|id| id.eq_ignore_ascii_case(assignment_id))
}

/// Runs `probe` until it gives `Some`, for at most [`WAIT_TIMEOUT`]; `probe` also describes what it
/// saw, and the error says what was awaited and what was last seen.
pub async fn wait_until<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Option<T>, String)>>,
{
    let started = Instant::now();
    loop {
        let (found, last) = probe().await?;
        if let Some(found) = found {
            return Ok(found);
        }
        anyhow::ensure!(started.elapsed() < WAIT_TIMEOUT, "waited {WAIT_TIMEOUT:?} for {what}; last seen: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl AksWorld {
    /// The id of assignment `assignment` made at the cluster's scope, as the add-on sees it.
    pub fn assignment_id(&self, assignment: &str) -> anyhow::Result<String> {
        Ok(format!("{}/providers/Microsoft.Authorization/policyAssignments/{assignment}", self.cluster_id()?))
    }

    /// The 20 hex digits that end the name of the Constraint for `assignment` (stable per
    /// assignment, [`contracts::addon_objects::constraint_name`]).
    pub fn constraint_hex(&self, assignment: &str) -> anyhow::Result<String> {
        let name = contracts::addon_objects::constraint_name("t", &self.assignment_id(assignment)?);
        Ok(name.rsplit('-').next().unwrap_or_default().to_string())
    }

    /// Step text with the World's placeholders expanded, and `{hex:<assignment>}` replaced by the
    /// assignment's Constraint hex, so a feature file can spell a Constraint name as a user sees it:
    /// `azurepolicy-k8sazurev2containerallowedimag-{hex:acr-only}`.
    pub fn expand_constraint_names(&self, text: &str) -> anyhow::Result<String> {
        let mut out = self.expand(text);
        while let Some(start) = out.find(HEX_PLACEHOLDER) {
            let len = out[start..].find('}').ok_or_else(|| anyhow::anyhow!("unclosed {{hex: in {text:?}"))?;
            let assignment = out[start + HEX_PLACEHOLDER.len()..start + len].to_string();
            out.replace_range(start..start + len + 1, &self.constraint_hex(&assignment)?);
        }
        Ok(out)
    }

    /// `kubectl get <resource>` (in `namespace`, or across the cluster for a cluster-scoped
    /// resource): `resource` is a plural or a kind, compared case-insensitively.
    /// `Ok(None)` when the API server has no such resource type (kubectl's "the server doesn't have
    /// a resource type").
    pub async fn kubectl_get(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> anyhow::Result<Option<Vec<DynamicObject>>> {
        let discovery = Discovery::new(self.client()).run().await?;
        let wanted = resource.to_ascii_lowercase();
        let found = discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.plural == wanted || ar.kind.to_ascii_lowercase() == wanted);
        let Some((ar, caps)) = found else { return Ok(None) };
        let api: Api<DynamicObject> = match (&caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(self.client(), &ar),
            (Scope::Cluster, _) => Api::all_with(self.client(), &ar),
        };
        Ok(Some(api.list(&ListParams::default()).await?.items))
    }

    /// Every ConstraintTemplate (`kubectl get constrainttemplates`); empty when the CRD is absent.
    pub async fn constraint_templates(&self) -> anyhow::Result<Vec<DynamicObject>> {
        let api: Api<DynamicObject> = Api::all_with(self.client(), &template_resource());
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(list.items),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The Constraint kinds the API server serves now (one CRD per compiled template), as
    /// `(kind, plural)`.
    pub async fn constraint_kinds(&self) -> anyhow::Result<Vec<(String, String)>> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client());
        Ok(crds
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|crd| crd.spec.group == CONSTRAINTS_GROUP)
            .map(|crd| (crd.spec.names.kind, crd.spec.names.plural))
            .collect())
    }

    /// Every Constraint of every kind.
    pub async fn constraints(&self) -> anyhow::Result<Vec<DynamicObject>> {
        let mut all = Vec::new();
        for (kind, plural) in self.constraint_kinds().await? {
            let api: Api<DynamicObject> = Api::all_with(self.client(), &constraint_resource(&kind, &plural));
            match api.list(&ListParams::default()).await {
                Ok(list) => all.extend(list.items),
                // A kind whose CRD is being deleted between the two lists.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(all)
    }

    /// The Constraint the add-on installed for `assignment`, of kind `kind` if given; `None` when
    /// there is none. More than one is an error: one assignment is one Constraint.
    pub async fn constraint_for(&self, assignment: &str, kind: Option<&str>) -> anyhow::Result<Option<DynamicObject>> {
        let id = self.assignment_id(assignment)?;
        let mut found: Vec<DynamicObject> = self
            .constraints()
            .await?
            .into_iter()
            .filter(|c| names_assignment(c, &id))
            .filter(|c| kind.is_none_or(|k| c.types.as_ref().is_some_and(|t| t.kind.eq_ignore_ascii_case(k))))
            .collect();
        anyhow::ensure!(
            found.len() <= 1,
            "{} Constraints stand for {assignment}: {:?}",
            found.len(),
            found.iter().map(name_of).collect::<Vec<_>>()
        );
        Ok(found.pop())
    }

    /// The Constraint for `assignment`, or an error listing the Constraints there are.
    pub async fn expect_constraint_for(&self, assignment: &str) -> anyhow::Result<DynamicObject> {
        if let Some(found) = self.constraint_for(assignment, None).await? {
            return Ok(found);
        }
        let there: Vec<String> = self.constraints().await?.iter().map(name_of).collect();
        anyhow::bail!("no Constraint stands for {assignment}; the Constraints in the cluster: {there:?}")
    }

    /// Edits the Constraint for `assignment` as a user with kubectl would (a JSON merge patch
    /// setting the dotted `path` to `value`), for showing that the add-on reverts manual edits.
    pub async fn edit_constraint(&self, assignment: &str, path: &str, value: Value) -> anyhow::Result<()> {
        let constraint = self.expect_constraint_for(assignment).await?;
        let types = constraint.types.clone().ok_or_else(|| anyhow::anyhow!("the Constraint has no apiVersion/kind"))?;
        let plural = self
            .constraint_kinds()
            .await?
            .into_iter()
            .find(|(kind, _)| *kind == types.kind)
            .map(|(_, plural)| plural)
            .ok_or_else(|| anyhow::anyhow!("no CRD serves Constraint kind {}", types.kind))?;
        let patch = path.rsplit('.').fold(value, |inner, key| serde_json::json!({ key: inner }));
        let api: Api<DynamicObject> = Api::all_with(self.client(), &constraint_resource(&types.kind, &plural));
        api.patch(&name_of(&constraint), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
        Ok(())
    }

    /// Gatekeeper's sync `Config` (`config` in gatekeeper-system), if any.
    pub async fn gatekeeper_config(&self) -> anyhow::Result<Option<DynamicObject>> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client(), GATEKEEPER_NAMESPACE, &config_resource());
        match api.get_opt("config").await {
            Ok(found) => Ok(found),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The webhook names in Gatekeeper's ValidatingWebhookConfiguration; `None` without one.
    pub async fn gatekeeper_webhooks(&self) -> anyhow::Result<Option<Vec<String>>> {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(self.client());
        Ok(api
            .get_opt(WEBHOOK_CONFIGURATION)
            .await?
            .map(|c| c.webhooks.unwrap_or_default().into_iter().map(|w| w.name).collect()))
    }

    /// Whether a CRD is `Established` (the API server serves its resource).
    pub async fn crd_established(&self, name: &str) -> anyhow::Result<Option<bool>> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client());
        Ok(crds.get_opt(name).await?.map(|crd| {
            crd.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        }))
    }

    /// Whether namespace `name` (a real name, not a scenario's) exists.
    pub async fn namespace_present(&self, name: &str) -> anyhow::Result<bool> {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client());
        Ok(api.get_opt(name).await?.is_some())
    }

    /// Waits out the deletion of namespace `name` (a real name): kube-controller-manager removes a
    /// namespace only after its grace period. A namespace that is not being deleted fails at once.
    pub async fn wait_namespace_deleted(&self, name: &str) -> anyhow::Result<()> {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client());
        wait_until(&format!("the namespace {name} to be deleted"), || async {
            match api.get_opt(name).await? {
                None => Ok((Some(()), String::new())),
                Some(ns) if ns.metadata.deletion_timestamp.is_some() => Ok((None, format!("{name} is terminating"))),
                Some(ns) => anyhow::bail!("the namespace {name} exists and is not being deleted: {:?}", ns.status),
            }
        })
        .await
    }
}
