//! Small builders for `JSONSchemaProps`, so the CRD files read like the field lists they encode.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

pub fn string() -> JSONSchemaProps {
    typed("string")
}

pub fn boolean() -> JSONSchemaProps {
    typed("boolean")
}

pub fn int64() -> JSONSchemaProps {
    JSONSchemaProps { format: Some("int64".into()), ..typed("integer") }
}

/// A string with a default, filled in by the API server when the field is absent.
pub fn string_default(value: &str) -> JSONSchemaProps {
    JSONSchemaProps { default: Some(JSON(value.into())), ..string() }
}

pub fn array(items: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps { items: Some(JSONSchemaPropsOrArray::Schema(Box::new(items))), ..typed("array") }
}

pub fn strings() -> JSONSchemaProps {
    array(string())
}

/// An object with exactly these fields (others are pruned, or refused with strict field validation).
pub fn object<const N: usize>(fields: [(&str, JSONSchemaProps); N]) -> JSONSchemaProps {
    let properties: BTreeMap<String, JSONSchemaProps> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    JSONSchemaProps { properties: Some(properties), ..typed("object") }
}

/// A map of strings (`matchLabels`).
pub fn string_map() -> JSONSchemaProps {
    JSONSchemaProps {
        additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(string()))),
        ..typed("object")
    }
}

/// An object whose content the API server keeps as given (Rego sources, status written by others).
pub fn free_object() -> JSONSchemaProps {
    JSONSchemaProps { x_kubernetes_preserve_unknown_fields: Some(true), ..typed("object") }
}

/// Any value at all, kept as given.
pub fn anything() -> JSONSchemaProps {
    JSONSchemaProps { x_kubernetes_preserve_unknown_fields: Some(true), ..Default::default() }
}

/// A standard label selector (`matchLabels` and `matchExpressions`).
pub fn label_selector() -> JSONSchemaProps {
    object([
        ("matchLabels", string_map()),
        ("matchExpressions", array(object([("key", string()), ("operator", string()), ("values", strings())]))),
    ])
}

fn typed(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps { type_: Some(type_.into()), ..Default::default() }
}
