//! Removing what today's add-on left in the API server, once its webhook configuration is gone and
//! its processes are stopped (so no controller puts anything back): the add-on's Constraints
//! (label `managed-by`), its ConstraintTemplates (annotation `constraint-template-installed-by`), the
//! constraint CRDs Gatekeeper generated (label `gatekeeper.sh/constraint: yes`), the sync `Config`,
//! and on uninstall the ConstraintTemplate and Config CRDs, the agent's objects in `kube-system`, the
//! ClusterRoles and `gatekeeper-system` itself.
//!
//! CRD deletion is asynchronous (the API server first deletes the kind's objects), and a CRD still
//! terminating blocks the next install from creating it again, so removal waits until they are gone.

use std::time::{Duration, Instant};

use contracts::addon_objects::{MANAGED_BY_LABEL, TEMPLATE_INSTALLED_BY};
use gatekeeper::crds::{CONSTRAINT_LABEL, config_crd, template_crd};
use gatekeeper::resources::config_resource;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};

use super::current_objects::{self, GATEKEEPER_NAMESPACE};
use super::{LifecycleError, namespaces, objects};

/// How long deleted CRDs may take to go.
const CRD_GONE_TIMEOUT: Duration = Duration::from_secs(60);
/// The sync configuration's name (reference §3.5).
const SYNC_CONFIG: &str = "config";

/// How much of the add-on goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Between scenarios: the policies (constraints, templates, their CRDs, the sync `Config`);
    /// Gatekeeper's namespace, identities and own CRDs stay for the next install.
    Policies,
    /// `disable-addons`: everything. `wait_for_namespace` waits until `gatekeeper-system` is gone
    /// (kube-controller-manager's 5 s grace period); without it the next install waits instead.
    Everything { wait_for_namespace: bool },
}

/// Removes what `removal` says and waits until the deleted CRDs are gone.
pub async fn remove(client: &Client, removal: Removal) -> Result<(), LifecycleError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let constraint_crds = crds.list(&ListParams::default().labels(&label(CONSTRAINT_LABEL))).await?.items;
    for crd in &constraint_crds {
        let constraints: Api<DynamicObject> = Api::all_with(client.clone(), &constraint_resource(crd));
        let managed = ListParams::default().labels(&label(MANAGED_BY_LABEL));
        objects::ignore_missing(constraints.delete_collection(&DeleteParams::default(), &managed).await)?;
    }
    delete_addon_templates(client).await?;
    let configs: Api<DynamicObject> = Api::namespaced_with(client.clone(), GATEKEEPER_NAMESPACE, &config_resource());
    objects::ignore_missing(configs.delete(SYNC_CONFIG, &DeleteParams::default()).await)?;

    let mut doomed: Vec<String> = constraint_crds.iter().filter_map(|c| c.metadata.name.clone()).collect();
    if let Removal::Everything { .. } = removal {
        doomed.extend([template_crd::CRD_NAME.to_string(), config_crd::CONFIG_CRD_NAME.to_string()]);
    }
    for name in &doomed {
        objects::ignore_missing(crds.delete(name, &DeleteParams::default()).await)?;
    }
    wait_crds_gone(&crds, &doomed).await?;
    if let Removal::Everything { wait_for_namespace } = removal {
        current_objects::delete_outside_gatekeeper_namespace(client).await?;
        namespaces::delete(client, GATEKEEPER_NAMESPACE, wait_for_namespace).await?;
    }
    Ok(())
}

/// The templates the add-on installed (a user's own templates stay until their CRD goes).
async fn delete_addon_templates(client: &Client) -> Result<(), LifecycleError> {
    let templates: Api<DynamicObject> = Api::all_with(client.clone(), &gatekeeper::controller::template_resource());
    let listed = match templates.list(&ListParams::default()).await {
        Ok(list) => list.items,
        // No ConstraintTemplate CRD: no templates.
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let (key, value) = TEMPLATE_INSTALLED_BY;
    for template in listed {
        let ours = template.metadata.annotations.as_ref().is_some_and(|a| a.get(key).is_some_and(|v| v == value));
        if ours && let Some(name) = &template.metadata.name {
            objects::ignore_missing(templates.delete(name, &DeleteParams::default()).await)?;
        }
    }
    Ok(())
}

async fn wait_crds_gone(crds: &Api<CustomResourceDefinition>, names: &[String]) -> Result<(), LifecycleError> {
    let started = Instant::now();
    loop {
        let mut left = Vec::new();
        for name in names {
            if crds.get_opt(name).await?.is_some() {
                left.push(name.clone());
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        if started.elapsed() > CRD_GONE_TIMEOUT {
            return Err(LifecycleError::RemovalStuck {
                what: format!("CRDs {}", left.join(", ")),
                after: CRD_GONE_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn label((key, value): (&str, &str)) -> String {
    format!("{key}={value}")
}

/// The constraints of a generated constraint CRD, at the version the add-on writes.
fn constraint_resource(crd: &CustomResourceDefinition) -> ApiResource {
    let names = &crd.spec.names;
    let gvk = GroupVersionKind::gvk(&crd.spec.group, gatekeeper::crds::constraint_crd::STORAGE_VERSION, &names.kind);
    ApiResource::from_gvk_with_plural(&gvk, &names.plural)
}
