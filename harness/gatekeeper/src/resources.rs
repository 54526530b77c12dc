//! Gatekeeper's objects as dynamic kube APIs address them: ConstraintTemplates, the sync `Config`
//! and the constraints of a template kind. Defined once, for this process and for those that read
//! or write its objects (the agent, the add-on lifecycle, the harness's steps).

use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use crate::crds::{config_crd, constraint_crd, template_crd};
pub use crate::webhook::GATEKEEPER_NAMESPACE;
pub use crate::webhook::sync::CONFIG_NAME;

/// `constrainttemplates.templates.gatekeeper.sh` at `version` (a template is applied in the
/// version it is written in).
pub fn template_resource_at(version: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(template_crd::GROUP, version, "ConstraintTemplate");
    ApiResource::from_gvk_with_plural(&gvk, "constrainttemplates")
}

/// `constrainttemplates.templates.gatekeeper.sh`, at the version Gatekeeper stores (`v1`).
pub fn template_resource() -> ApiResource {
    template_resource_at(template_crd::VERSION)
}

/// `configs.config.gatekeeper.sh/v1alpha1`.
pub fn config_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(config_crd::GROUP, config_crd::VERSION, "Config");
    ApiResource::from_gvk_with_plural(&gvk, "configs")
}

/// The constraints of template kind `kind`: `<lowercase kind>.constraints.gatekeeper.sh/v1beta1`.
pub fn constraint_resource(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(constraint_crd::GROUP, constraint_crd::STORAGE_VERSION, kind);
    ApiResource::from_gvk_with_plural(&gvk, &kind.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_gatekeepers() {
        let template = template_resource();
        assert_eq!(
            (template.api_version.as_str(), template.plural.as_str()),
            ("templates.gatekeeper.sh/v1", "constrainttemplates")
        );
        let config = config_resource();
        assert_eq!((config.api_version.as_str(), config.kind.as_str()), ("config.gatekeeper.sh/v1alpha1", "Config"));
        let constraint = constraint_resource("K8sAllowedRepos");
        assert_eq!(constraint.api_version, "constraints.gatekeeper.sh/v1beta1");
        assert_eq!((constraint.kind.as_str(), constraint.plural.as_str()), ("K8sAllowedRepos", "k8sallowedrepos"));
    }
}
