//! The add-on's objects in the API server: finding the templates and Constraints it installed,
//! server-side applying new ones (forced, field manager `azure-policy-addon`, so manual edits are
//! reverted), waiting for Gatekeeper's verdict on a template, and deleting what is no longer wanted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contracts::addon_objects::{ASSIGNMENT_ID, TEMPLATE_INSTALLED_BY, TEMPLATE_SOURCE, managed_by_selector};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::FIELD_MANAGER;
use super::install_state::ConstraintRef;
use super::resources::{self, CONSTRAINT_CRD_LABEL, constraint_crd_name, is_not_found, refusal};

/// How often a wait polls the API server: each wait sits on the path from an assignment to its
/// enforcement (`harness bench propagation`).
const POLL: Duration = Duration::from_millis(20);

/// A ConstraintTemplate in the cluster.
#[derive(Debug, Clone)]
pub struct ExistingTemplate {
    pub name: String,
    /// Its `constraint-template` annotation (the source it was installed from), if any.
    pub source: Option<String>,
    /// Installed by the add-on (annotation `constraint-template-installed-by`).
    pub ours: bool,
    /// Gatekeeper created it (`status.created`): a working template worth keeping on a failed update.
    pub created: bool,
    /// As read (`v1`), to restore it after a failed update.
    pub object: DynamicObject,
}

/// An add-on Constraint in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingConstraint {
    pub constraint: ConstraintRef,
    /// Its `azure-policy-assignment-id` annotation.
    pub assignment_id: String,
}

/// Gatekeeper's verdict on an applied template generation.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateVerdict {
    Created,
    /// Compile (or constraint CRD) errors, as the template controller wrote them.
    Failed(Vec<String>),
    /// No verdict for this generation within the wait.
    Pending,
}

pub struct AddonObjects {
    client: Client,
}

impl AddonObjects {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every ConstraintTemplate, by name (the add-on must know about ones it did not install too:
    /// applying over them is an update, not a create).
    pub async fn templates(&self) -> Result<HashMap<String, ExistingTemplate>, kube::Error> {
        let list = resources::templates(&self.client, "v1").list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .map(|object| {
                let annotations = object.annotations();
                let template = ExistingTemplate {
                    name: object.name_any(),
                    source: annotations.get(TEMPLATE_SOURCE).cloned(),
                    ours: annotations.get(TEMPLATE_INSTALLED_BY.0).map(String::as_str) == Some(TEMPLATE_INSTALLED_BY.1),
                    created: object.data.pointer("/status/created").and_then(Value::as_bool).unwrap_or(false),
                    object,
                };
                (template.name.clone(), template)
            })
            .collect())
    }

    /// Every Constraint labelled `managed-by: azure-policy-addon`, over every generated kind.
    pub async fn constraints(&self) -> Result<Vec<ExistingConstraint>, kube::Error> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let crds = crds.list(&ListParams::default().labels(CONSTRAINT_CRD_LABEL)).await?;
        let managed = ListParams::default().labels(&managed_by_selector());
        let mut found = Vec::new();
        for crd in crds.items {
            let kind = crd.spec.names.kind;
            let items = match resources::constraints(&self.client, &kind).list(&managed).await {
                Ok(list) => list.items,
                // The CRD is going away (its template was deleted) or not served yet.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            found.extend(items.into_iter().map(|c| ExistingConstraint {
                assignment_id: c.annotations().get(ASSIGNMENT_ID).cloned().unwrap_or_default(),
                constraint: ConstraintRef { kind: kind.clone(), name: c.name_any() },
            }));
        }
        Ok(found)
    }

    /// Server-side applies a template in the version it is written in; answers its generation.
    pub async fn apply_template(&self, object: &Value) -> Result<i64, ApplyError> {
        let version = object["apiVersion"].as_str().and_then(|v| v.rsplit('/').next()).unwrap_or("v1");
        let applied = apply_object(&resources::templates(&self.client, version), object).await?;
        Ok(applied.metadata.generation.unwrap_or_default())
    }

    /// Puts back a template as it was before a failed update.
    pub async fn restore_template(&self, old: &ExistingTemplate) -> Result<(), ApplyError> {
        let object = json!({
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": old.name, "labels": old.object.labels(), "annotations": old.object.annotations()},
            "spec": old.object.data.get("spec").cloned().unwrap_or_default(),
        });
        self.apply_template(&object).await.map(|_| ())
    }

    /// Waits, at most `timeout`, for the template controller's verdict on `generation` of `name`.
    pub async fn template_verdict(&self, name: &str, generation: i64, timeout: Duration) -> TemplateVerdict {
        let api = resources::templates(&self.client, "v1");
        let started = Instant::now();
        loop {
            if let Ok(template) = api.get(name).await
                && let Some(verdict) = verdict_of(&template.data, generation)
            {
                return verdict;
            }
            if started.elapsed() >= timeout {
                return TemplateVerdict::Pending;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits, at most `timeout`, until the constraint CRD of `kind` is Established.
    pub async fn constraint_crd_established(&self, kind: &str, timeout: Duration) -> bool {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let name = constraint_crd_name(kind);
        let started = Instant::now();
        loop {
            if let Ok(Some(crd)) = api.get_opt(&name).await
                && crd.metadata.deletion_timestamp.is_none()
                && crd
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                    .any(|c| c.type_ == "Established" && c.status == "True")
            {
                return true;
            }
            if started.elapsed() >= timeout {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn apply_constraint(&self, object: &Value) -> Result<(), ApplyError> {
        let kind = object["kind"].as_str().unwrap_or_default();
        apply_object(&resources::constraints(&self.client, kind), object).await.map(|_| ())
    }

    /// The Constraint itself, with its status (`None` when it is gone).
    pub async fn constraint(&self, c: &ConstraintRef) -> Result<Option<DynamicObject>, kube::Error> {
        match resources::constraints(&self.client, &c.kind).get_opt(&c.name).await {
            Err(e) if is_not_found(&e) => Ok(None),
            other => other,
        }
    }

    pub async fn delete_constraint(&self, c: &ConstraintRef) -> Result<(), kube::Error> {
        ignore_not_found(resources::constraints(&self.client, &c.kind).delete(&c.name, &DeleteParams::default()).await)
    }

    pub async fn delete_template(&self, name: &str) -> Result<(), kube::Error> {
        ignore_not_found(resources::templates(&self.client, "v1").delete(name, &DeleteParams::default()).await)
    }

    /// Applies the sync `Config`.
    pub async fn apply_config(&self, object: &Value) -> Result<(), kube::Error> {
        resources::configs(&self.client)
            .patch(resources::CONFIG_NAME, &apply(), &Patch::Apply(object))
            .await
            .map(|_| ())
    }
}

fn apply() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Why an apply did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server refused the object itself (validation, schema): the message is its own.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Server-side applies `object`, then reverts manual edits a forced apply cannot: fields someone
/// else added to `spec` are owned by them, so the apply leaves them. When another manager owns part
/// of `spec`, the spec is replaced by ours and applied again, so our apply owns all of it after.
async fn apply_object(api: &Api<DynamicObject>, object: &Value) -> Result<DynamicObject, ApplyError> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let applied = match api.patch(name, &apply(), &Patch::Apply(object)).await {
        Ok(applied) => applied,
        Err(e) => return Err(explain(api, object, e).await),
    };
    if !foreign_spec_owner(&applied) {
        return Ok(applied);
    }
    tracing::info!(name, "reverting a manual edit");
    let mut ours = applied;
    ours.data["spec"] = object["spec"].clone();
    ours.metadata.managed_fields = None;
    let params = PostParams { dry_run: false, field_manager: Some(FIELD_MANAGER.into()) };
    api.replace(name, &params, &ours).await?;
    api.patch(name, &apply(), &Patch::Apply(object)).await.map_err(ApplyError::Kube)
}

/// Whether a manager other than the add-on (and other than status writers) owns fields of `spec`.
fn foreign_spec_owner(object: &DynamicObject) -> bool {
    object.metadata.managed_fields.iter().flatten().any(|entry| {
        entry.manager.as_deref() != Some(FIELD_MANAGER)
            && entry.subresource.as_deref().unwrap_or_default().is_empty()
            && entry.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").is_some())
    })
}

/// An apply error as the API server meant it. A structural schema refuses a wrongly typed field
/// during apply with a 500 ("failed to create typed patch object"); a dry-run create of the same
/// object gets the validation message a user would see (422).
async fn explain(api: &Api<DynamicObject>, object: &Value, error: kube::Error) -> ApplyError {
    if let Some(message) = refusal(&error) {
        return ApplyError::Refused(message.to_string());
    }
    let kube::Error::Api(status) = &error else { return ApplyError::Kube(error) };
    if !status.message.contains("failed to create typed patch object") {
        return ApplyError::Kube(error);
    }
    let Ok(candidate) = serde_json::from_value::<DynamicObject>(object.clone()) else {
        return ApplyError::Refused(status.message.clone());
    };
    let dry_run = PostParams { dry_run: true, field_manager: Some(FIELD_MANAGER.into()) };
    match api.create(&dry_run, &candidate).await {
        Err(e) => ApplyError::Refused(refusal(&e).map(str::to_string).unwrap_or_else(|| status.message.clone())),
        Ok(_) => ApplyError::Refused(status.message.clone()),
    }
}

fn ignore_not_found<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The verdict a template's data shows for `generation`, if the controller has given one: the
/// `byPod` entry that observed it, with `created` or its errors (reference §1.1).
pub fn verdict_of(template: &Value, generation: i64) -> Option<TemplateVerdict> {
    let status = template.get("status")?;
    let pods = status.get("byPod")?.as_array()?;
    let seen = pods.iter().filter(|p| p["observedGeneration"].as_i64().unwrap_or_default() >= generation);
    let errors: Vec<String> = seen
        .clone()
        .flat_map(|p| p["errors"].as_array().cloned().unwrap_or_default())
        .map(|e| e["message"].as_str().unwrap_or("unknown error").to_string())
        .collect();
    if seen.count() == 0 {
        None
    } else if !errors.is_empty() {
        Some(TemplateVerdict::Failed(errors))
    } else if status["created"].as_bool() == Some(true) {
        Some(TemplateVerdict::Created)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_for_the_applied_generation_only() {
        let created =
            json!({"status": {"created": true, "byPod": [{"id": "p", "observedGeneration": 2, "errors": []}]}});
        assert_eq!(verdict_of(&created, 2), Some(TemplateVerdict::Created));
        assert_eq!(verdict_of(&created, 3), None, "an older generation's verdict does not count");
        let failed = json!({"status": {"created": false, "byPod": [{"id": "p", "observedGeneration": 3,
            "errors": [{"code": "rego_parse_error", "message": "line 4: bad"}]}]}});
        assert_eq!(verdict_of(&failed, 3), Some(TemplateVerdict::Failed(vec!["line 4: bad".into()])));
        assert_eq!(verdict_of(&json!({}), 1), None);
    }
}
