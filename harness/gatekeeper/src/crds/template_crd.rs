//! The `constrainttemplates.templates.gatekeeper.sh` CRD, written here from the reference's field
//! list (§1.1): cluster-scoped, `v1` stored, `v1beta1` and `v1alpha1` served, status subresource.
//!
//! The versions differ in one thing: `legacySchema` defaults to `false` in `v1` and to `true` in
//! `v1beta1`/`v1alpha1`. Gatekeeper does that in its Go conversion; without a conversion webhook the
//! API server's structural defaulting does it here, per request version, so a `v1beta1` template is
//! stored with `legacySchema: true` and the controller (which reads `v1`) still sees it as legacy.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, JSON, JSONSchemaProps,
};
use kube::api::ObjectMeta;

use super::schema::{anything, array, boolean, free_object, int64, object, string, strings};

pub const GROUP: &str = "templates.gatekeeper.sh";
pub const CRD_NAME: &str = "constrainttemplates.templates.gatekeeper.sh";
/// The version the controller reads and writes (the storage version).
pub const VERSION: &str = "v1";

/// The ConstraintTemplate CRD.
pub fn constraint_template_crd() -> CustomResourceDefinition {
    let versions = [("v1", false, true), ("v1beta1", true, false), ("v1alpha1", true, false)]
        .into_iter()
        .map(|(name, legacy_default, storage)| CustomResourceDefinitionVersion {
            name: name.into(),
            served: true,
            storage,
            schema: Some(CustomResourceValidation { open_api_v3_schema: Some(template_schema(legacy_default)) }),
            subresources: Some(CustomResourceSubresources {
                status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    CustomResourceDefinition {
        metadata: ObjectMeta { name: Some(CRD_NAME.into()), ..Default::default() },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: "ConstraintTemplate".into(),
                list_kind: Some("ConstraintTemplateList".into()),
                plural: "constrainttemplates".into(),
                singular: Some("constrainttemplate".into()),
                short_names: Some(vec!["ct".into()]),
                ..Default::default()
            },
            scope: "Cluster".into(),
            versions,
            ..Default::default()
        },
        status: None,
    }
}

fn template_schema(legacy_default: bool) -> JSONSchemaProps {
    let legacy_schema = JSONSchemaProps { default: Some(JSON(legacy_default.into())), ..boolean() };
    let crd = object([(
        "spec",
        object([
            ("names", object([("kind", string()), ("shortNames", strings())])),
            ("validation", object([("openAPIV3Schema", free_object()), ("legacySchema", legacy_schema)])),
        ]),
    )]);
    let target = object([
        ("target", string()),
        ("rego", string()),
        ("libs", strings()),
        ("code", array(object([("engine", string()), ("source", anything())]))),
        ("operations", strings()),
    ]);
    let error = object([("code", string()), ("message", string()), ("location", string())]);
    let by_pod = object([("id", string()), ("observedGeneration", int64()), ("errors", array(error))]);
    object([
        ("spec", object([("crd", crd), ("targets", array(target))])),
        ("status", object([("created", boolean()), ("byPod", array(by_pod))])),
    ])
}
