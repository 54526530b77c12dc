//! The Gatekeeper resources the agent reads and writes, as dynamic kube APIs. Their names and
//! versions come from the `gatekeeper` crate ([`gatekeeper::resources`]), defined once there.

use gatekeeper::resources::{config_resource, constraint_resource, template_resource_at};
use kube::Client;
use kube::api::{Api, DynamicObject};

pub use gatekeeper::crds::constraint_crd::{GROUP as CONSTRAINT_GROUP, STORAGE_VERSION as CONSTRAINT_VERSION};
pub use gatekeeper::resources::{CONFIG_NAME, GATEKEEPER_NAMESPACE};
/// The label the template controller puts on every generated constraint CRD.
pub const CONSTRAINT_CRD_LABEL: &str = "gatekeeper.sh/constraint=yes";

/// ConstraintTemplates in `version` (`v1` to read; a template is applied in the version it is written in).
pub fn templates(client: &Client, version: &str) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &template_resource_at(version))
}

/// The Constraints of one template kind (cluster-scoped; plural = lowercase kind), in the version
/// the add-on writes them in (reference §3.2).
pub fn constraints(client: &Client, kind: &str) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &constraint_resource(kind))
}

/// `configs.config.gatekeeper.sh/v1alpha1` in `gatekeeper-system`.
pub fn configs(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), GATEKEEPER_NAMESPACE, &config_resource())
}

/// `<lowercase kind>.constraints.gatekeeper.sh`, the CRD the template controller generates.
pub fn constraint_crd_name(kind: &str) -> String {
    format!("{}.{CONSTRAINT_GROUP}", kind.to_lowercase())
}

/// The API server's own refusal of an object (422 Invalid, 400 BadRequest): retrying the same object
/// cannot help, so it is reported as `Invalid*`.
pub fn refusal(error: &kube::Error) -> Option<&str> {
    match error {
        kube::Error::Api(status) if matches!(status.code, 400 | 422) => Some(&status.message),
        _ => None,
    }
}

/// `true` for a 404 (the object, or its whole kind, is not there).
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}
