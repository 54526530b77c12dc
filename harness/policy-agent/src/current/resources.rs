//! The Gatekeeper resources the agent reads and writes, as dynamic kube APIs. Written here rather
//! than taken from the `gatekeeper` crate, so the agent depends on the API server's names only, as
//! the real add-on depends on Gatekeeper's CRDs and not its code.

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

pub const TEMPLATE_GROUP: &str = "templates.gatekeeper.sh";
pub const CONSTRAINT_GROUP: &str = "constraints.gatekeeper.sh";
/// The version the add-on writes Constraints in (reference §3.2).
pub const CONSTRAINT_VERSION: &str = "v1beta1";
/// Where Gatekeeper runs and its `Config` lives.
pub const GATEKEEPER_NAMESPACE: &str = "gatekeeper-system";
/// The one `Config` Gatekeeper reads.
pub const CONFIG_NAME: &str = "config";
/// The label the template controller puts on every generated constraint CRD.
pub const CONSTRAINT_CRD_LABEL: &str = "gatekeeper.sh/constraint=yes";

/// ConstraintTemplates in `version` (`v1` to read; a template is applied in the version it is written in).
pub fn templates(client: &Client, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(TEMPLATE_GROUP, version, "ConstraintTemplate");
    Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "constrainttemplates"))
}

/// The Constraints of one template kind (cluster-scoped; plural = lowercase kind).
pub fn constraints(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(CONSTRAINT_GROUP, CONSTRAINT_VERSION, kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, &kind.to_lowercase()))
}

/// `configs.config.gatekeeper.sh/v1alpha1` in `gatekeeper-system`.
pub fn configs(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("config.gatekeeper.sh", "v1alpha1", "Config");
    Api::namespaced_with(client.clone(), GATEKEEPER_NAMESPACE, &ApiResource::from_gvk_with_plural(&gvk, "configs"))
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
