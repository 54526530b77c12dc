//! The `configs.config.gatekeeper.sh` CRD (reference §1.7): Gatekeeper's `Config`, namespaced,
//! `v1alpha1`. The add-on writes the one named `config` in `gatekeeper-system`, and the webhook's
//! sync ([`crate::webhook::sync`]) reads its `spec.sync.syncOnly[] {group, version, kind}` into
//! `data.inventory`.
//!
//! Only `syncOnly` is typed (so a misspelt entry field is pruned the way Gatekeeper's schema prunes
//! it); everything else in `spec` and `status` (match, validation, readiness) is kept as given,
//! because this harness does not act on it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceValidation, JSONSchemaProps,
};
use kube::api::ObjectMeta;

use super::schema::{array, free_object, object, string};

pub const GROUP: &str = "config.gatekeeper.sh";
pub const VERSION: &str = "v1alpha1";
pub const CONFIG_CRD_NAME: &str = "configs.config.gatekeeper.sh";

/// The Config CRD.
pub fn config_crd() -> CustomResourceDefinition {
    CustomResourceDefinition {
        metadata: ObjectMeta { name: Some(CONFIG_CRD_NAME.into()), ..Default::default() },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: "Config".into(),
                list_kind: Some("ConfigList".into()),
                plural: "configs".into(),
                singular: Some("config".into()),
                ..Default::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: VERSION.into(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation { open_api_v3_schema: Some(config_schema()) }),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

/// `spec.sync.syncOnly[] {group, version, kind}`; unknown fields kept elsewhere in `spec`.
fn config_schema() -> JSONSchemaProps {
    let entry = object([("group", string()), ("version", string()), ("kind", string())]);
    let sync = keep_unknown(object([("syncOnly", array(entry))]));
    let spec = keep_unknown(object([("sync", sync)]));
    object([("spec", spec), ("status", free_object())])
}

fn keep_unknown(schema: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps { x_kubernetes_preserve_unknown_fields: Some(true), ..schema }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_crd_is_namespaced_v1alpha1_with_typed_sync_only() {
        let v = serde_json::to_value(config_crd()).unwrap();
        assert_eq!(v["metadata"]["name"], CONFIG_CRD_NAME);
        assert_eq!(v["spec"]["scope"], "Namespaced");
        assert_eq!(v["spec"]["versions"][0]["name"], "v1alpha1");
        let spec = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], true);
        let entry = &spec["properties"]["sync"]["properties"]["syncOnly"]["items"]["properties"];
        assert_eq!(entry["kind"]["type"], "string");
    }
}
