//! One reconcile of one ConstraintTemplate: compile it, and if it compiles apply its constraint CRD
//! and wait until it is served; then write the outcome to the template's status. Idempotent: the
//! CRD is applied server-side (a no-op when unchanged) and the status is written only when it
//! differs, so the controller's own status write does not start another round of work.
//!
//! A failed template keeps any constraint CRD an earlier generation created: the add-on keeps the
//! old object when an update fails (reference §3.6).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use policy_engine::gatekeeper_v3::{ConstraintTemplate, compiled_template};

use super::status::{StatusError, TemplateStatus, code};
use crate::crds::apply::ESTABLISH_TIMEOUT;
use crate::crds::template_crd::{GROUP, VERSION};
use crate::crds::{CONSTRAINT_LABEL, CrdError, apply_crd, constraint_crd, constraint_crd_name, wait_established};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Crd(#[from] CrdError),
    #[error("writing the status of ConstraintTemplate {name}: {source}")]
    Status {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting constraint CRD {name}: {source}")]
    Cleanup {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Shared by every reconcile: the client and the retry count per template (for backoff).
pub struct Context {
    pub client: Client,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client) -> Self {
        Context { client, failures: Mutex::new(HashMap::new()) }
    }

    /// The next retry delay for `name`: 250 ms doubling to at most 30 s.
    fn backoff(&self, name: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(name.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        Duration::from_millis(250u64.saturating_mul(1 << (*n - 1).min(7))).min(Duration::from_secs(30))
    }

    fn succeeded(&self, name: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

/// What became of a template in this round.
enum Outcome {
    Created,
    Failed(Vec<StatusError>),
}

pub async fn reconcile(template: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    if template.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = template.name_any();
    let generation = template.metadata.generation.unwrap_or_default();
    let status = match ensure_crd(&ctx.client, &template).await? {
        Outcome::Created => TemplateStatus::created(generation),
        Outcome::Failed(errors) => {
            tracing::info!(template = %name, errors = ?errors, "ConstraintTemplate not created");
            TemplateStatus::failed(generation, errors)
        }
    };
    write_status(&ctx.client, &template, &status).await?;
    ctx.succeeded(&name);
    Ok(Action::await_change())
}

/// Retry with a per-template exponential backoff.
pub fn error_policy(template: Arc<DynamicObject>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let name = template.name_any();
    let delay = ctx.backoff(&name);
    tracing::warn!(template = %name, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Compile the template and, when it compiles, apply its constraint CRD and wait until it is served.
async fn ensure_crd(client: &Client, template: &DynamicObject) -> Result<Outcome, ReconcileError> {
    let name = template.name_any();
    let mut value = serde_json::to_value(template).unwrap_or_default();
    value["apiVersion"] = format!("{GROUP}/{VERSION}").into();
    value["kind"] = "ConstraintTemplate".into();
    let parsed = ConstraintTemplate::from_value(&value, &format!("ConstraintTemplate/{name}"))
        .and_then(|parsed| compiled_template::compile(&parsed).map(|_| parsed));
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return Ok(Outcome::Failed(vec![StatusError::from_engine(&error)])),
    };
    let mut crd = match constraint_crd(&parsed) {
        Ok(crd) => crd,
        Err(error) => {
            let field = "spec.crd.spec.validation.openAPIV3Schema";
            return Ok(Outcome::Failed(vec![StatusError::new(code::INGEST, error.to_string(), field)]));
        }
    };
    crd.metadata.owner_references = Some(vec![owner_reference(template)]);
    match apply_crd(client, &crd).await {
        Ok(()) => {}
        Err(error) => match error.refusal() {
            Some(refusal) => {
                let location = constraint_crd_name(&parsed.kind);
                return Ok(Outcome::Failed(vec![StatusError::new(code::CREATE, refusal.message.clone(), location)]));
            }
            None => return Err(error.into()),
        },
    }
    wait_established(client, &constraint_crd_name(&parsed.kind), ESTABLISH_TIMEOUT).await?;
    Ok(Outcome::Created)
}

/// The template owns its CRD: deleting the template lets the garbage collector delete the CRD
/// (and so its constraints) even when this controller is not running.
fn owner_reference(template: &DynamicObject) -> OwnerReference {
    OwnerReference {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: "ConstraintTemplate".into(),
        name: template.name_any(),
        uid: template.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// Write `status` unless the template already carries it.
async fn write_status(
    client: &Client,
    template: &DynamicObject,
    status: &TemplateStatus,
) -> Result<(), ReconcileError> {
    let current = template.data.get("status").and_then(|s| serde_json::from_value::<TemplateStatus>(s.clone()).ok());
    if current.as_ref() == Some(status) {
        return Ok(());
    }
    let name = template.name_any();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &super::template_resource());
    let patch = serde_json::json!({"status": status});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| ReconcileError::Status { name, source })
}

/// The template `name` is gone: delete its constraint CRD (and with it every constraint of that
/// kind) if this controller made it. The garbage collector would too; this does not wait for it.
pub async fn delete_constraint_crd(client: &Client, template: &str) -> Result<(), ReconcileError> {
    let name = constraint_crd_name(template);
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = match api.get_opt(&name).await {
        Ok(Some(crd)) => crd,
        Ok(None) => return Ok(()),
        Err(source) => return Err(ReconcileError::Cleanup { name, source }),
    };
    let ours = crd.labels().get(CONSTRAINT_LABEL.0).map(String::as_str) == Some(CONSTRAINT_LABEL.1)
        && crd.owner_references().iter().any(|o| o.kind == "ConstraintTemplate" && o.name == template);
    if !ours {
        return Ok(());
    }
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(source) => Err(ReconcileError::Cleanup { name, source }),
    }
}
