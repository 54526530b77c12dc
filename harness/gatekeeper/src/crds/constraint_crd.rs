//! The CRD generated per ConstraintTemplate (reference §1.3): `<lowercase kind>.constraints.gatekeeper.sh`,
//! cluster-scoped, `v1beta1` stored, `v1alpha1` and `v1` served, status subresource, categories
//! `constraint`/`constraints`, label `gatekeeper.sh/constraint: "yes"`.
//!
//! It is structural so that the API server itself refuses a Constraint whose `spec.parameters` do
//! not fit the template's schema: that refusal is what the add-on reports as `InvalidConstraint`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};
use kube::api::ObjectMeta;
use policy_engine::gatekeeper_v3::ConstraintTemplate;

use super::parameters::parameters_schema;
use super::schema::{array, free_object, label_selector, object, string, string_default, strings};

pub const GROUP: &str = "constraints.gatekeeper.sh";
/// The label every generated CRD carries (how Gatekeeper and we find them).
pub const CONSTRAINT_LABEL: (&str, &str) = ("gatekeeper.sh/constraint", "yes");
/// `kubectl get constraints` lists every kind through these.
pub const CATEGORIES: [&str; 2] = ["constraint", "constraints"];
/// The stored version; constraints written by the add-on use it too.
pub const STORAGE_VERSION: &str = "v1beta1";

/// A constraint CRD could not be generated from a template that compiled.
#[derive(Debug, thiserror::Error)]
pub enum ConstraintCrdError {
    /// `spec.crd.spec.validation.openAPIV3Schema` is not an OpenAPI v3 schema the API server reads.
    #[error("spec.crd.spec.validation.openAPIV3Schema: not a CRD schema: {0}")]
    Schema(serde_json::Error),
}

/// The name of the constraint CRD of the template `kind` (also the template's own name, lowercased).
pub fn constraint_crd_name(kind: &str) -> String {
    format!("{}.{GROUP}", kind.to_lowercase())
}

/// The constraint CRD for a parsed template.
pub fn constraint_crd(template: &ConstraintTemplate) -> Result<CustomResourceDefinition, ConstraintCrdError> {
    let plural = template.kind.to_lowercase();
    let schema = constraint_schema(parameters_schema(template.schema.as_ref(), template.legacy_schema)?);
    let versions = [("v1beta1", true), ("v1alpha1", false), ("v1", false)]
        .into_iter()
        .map(|(name, storage)| CustomResourceDefinitionVersion {
            name: name.into(),
            served: true,
            storage,
            schema: Some(CustomResourceValidation { open_api_v3_schema: Some(schema.clone()) }),
            subresources: Some(CustomResourceSubresources {
                status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    Ok(CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(constraint_crd_name(&template.kind)),
            labels: Some([(CONSTRAINT_LABEL.0.to_string(), CONSTRAINT_LABEL.1.to_string())].into()),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: template.kind.clone(),
                list_kind: Some(format!("{}List", template.kind)),
                singular: Some(plural.clone()),
                plural,
                short_names: short_names(template),
                categories: Some(CATEGORIES.iter().map(|c| c.to_string()).collect()),
            },
            scope: "Cluster".into(),
            versions,
            ..Default::default()
        },
        status: None,
    })
}

/// `spec.crd.spec.names.shortNames`, when the template gives some.
fn short_names(template: &ConstraintTemplate) -> Option<Vec<String>> {
    let names = template.raw.pointer("/spec/crd/spec/names/shortNames")?.as_array()?;
    let names: Vec<String> = names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect();
    (!names.is_empty()).then_some(names)
}

/// The whole Constraint: `metadata.name` at most 63 characters, `spec.match`, `enforcementAction`
/// (default `deny`), `scopedEnforcementActions`, the parameters, and a free `status` (audit writes it).
fn constraint_schema(parameters: Option<JSONSchemaProps>) -> JSONSchemaProps {
    let name = JSONSchemaProps { max_length: Some(63), ..string() };
    let metadata = object([("name", name)]);
    let kinds = array(object([("apiGroups", strings()), ("kinds", strings())]));
    let match_ = object([
        ("kinds", kinds),
        ("scope", string()),
        ("namespaces", strings()),
        ("excludedNamespaces", strings()),
        ("labelSelector", label_selector()),
        ("namespaceSelector", label_selector()),
        ("name", string()),
        ("source", string()),
    ]);
    let scoped = array(object([("action", string()), ("enforcementPoints", array(object([("name", string())])))]));
    let mut spec = object([
        ("match", match_),
        ("enforcementAction", string_default("deny")),
        ("scopedEnforcementActions", scoped),
    ]);
    if let (Some(properties), Some(parameters)) = (spec.properties.as_mut(), parameters) {
        properties.insert("parameters".into(), parameters);
    }
    object([("metadata", metadata), ("spec", spec), ("status", free_object())])
}
