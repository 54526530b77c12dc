//! The template controller (reference §1.1–1.3), a kube-runtime `Controller` over
//! ConstraintTemplates:
//! * [`reconcile`]: compile a template with `policy_engine::gatekeeper_v3`, apply its constraint
//!   CRD, write `status` (success, or the compile errors); retries with backoff.
//! * [`status`]: the status shape and error codes.
//!
//! A deleted template's constraint CRD goes away twice over: it is owned by the template (the
//! garbage collector deletes it), and the controller deletes it when it sees the template gone.
//! kube-runtime does not call `reconcile` for an object that is no longer there; it reports it as
//! `ObjectNotFound`, which is where that deletion happens.

pub mod reconcile;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{self, Controller};
use kube::runtime::watcher;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::crds::CONSTRAINT_LABEL;
pub use crate::resources::template_resource;
pub use reconcile::{Context, ReconcileError};
pub use status::{POD_ID, StatusError, TemplateStatus};

/// Run the controller until `shutdown` completes. The ConstraintTemplate CRD must be installed
/// ([`crate::crds::install_crds`]); until it is, the watch retries with backoff.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let resource = template_resource();
    let templates: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let owned = watcher::Config::default().labels(&format!("{}={}", CONSTRAINT_LABEL.0, CONSTRAINT_LABEL.1));
    let ctx = Arc::new(Context::new(client.clone()));
    Controller::new_with(templates, watcher::Config::default(), resource)
        .owns(crds, owned)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| {
            let client = client.clone();
            async move {
                match result {
                    Ok(_) => {}
                    Err(controller::Error::ObjectNotFound(gone)) => {
                        if let Err(error) = reconcile::delete_constraint_crd(&client, &gone.name).await {
                            tracing::warn!(error = %error, "constraint CRD cleanup failed (the garbage collector will retry)");
                        }
                    }
                    Err(error) => tracing::debug!(error = %error, "controller event"),
                }
            }
        })
        .await;
}

/// A running controller; [`TemplateController::stop`] ends it gracefully.
pub struct TemplateController {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TemplateController {
    /// Start the controller on the current tokio runtime.
    pub fn spawn(client: Client) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(client, async move {
            let _ = stopped.await;
        }));
        TemplateController { stop: Some(stop), task }
    }

    /// Stop, letting reconciles in flight finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for TemplateController {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}
