//! `spec.parameters` of a constraint CRD, from the template's `openAPIV3Schema`.
//!
//! What the API server then accepts follows what gator measured (see
//! `policy_engine::gatekeeper_v3::parameters_schema`): types, enums and required fields are checked
//! for every template; a `legacySchema` template (v1beta1/v1alpha1 default) also keeps fields its
//! schema does not declare, at every level, so each object node preserves unknown fields. A `v1`
//! template without a schema declares no `parameters` at all: any value is an unknown field.
//!
//! The schema is made structural where the template leaves it loose: the root is an object, and in
//! a legacy template a node without `type` gets one from its `properties`/`items`, or keeps anything.
//! A `v1` template's untyped property is left as written, so the API server refuses the CRD with its
//! own message, which then lands in the template's status as Gatekeeper reports it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::{Map, Value};

use super::constraint_crd::ConstraintCrdError;

/// The `spec.parameters` schema, or `None` when the constraint may carry no parameters.
pub fn parameters_schema(schema: Option<&Value>, legacy: bool) -> Result<Option<JSONSchemaProps>, ConstraintCrdError> {
    let mut schema = match schema {
        Some(schema) => schema.clone(),
        None if legacy => return Ok(Some(any_value())),
        None => return Ok(None),
    };
    if let Some(root) = schema.as_object_mut() {
        root.entry("type").or_insert_with(|| "object".into());
    }
    if legacy {
        loosen(&mut schema);
    }
    serde_json::from_value(schema).map(Some).map_err(ConstraintCrdError::Schema)
}

fn any_value() -> JSONSchemaProps {
    JSONSchemaProps { x_kubernetes_preserve_unknown_fields: Some(true), ..Default::default() }
}

/// Legacy: type untyped nodes where their shape says what they are, and keep unknown fields in
/// every object.
fn loosen(node: &mut Value) {
    let Some(map) = node.as_object_mut() else { return };
    if !map.contains_key("type") && !is_set(map, "x-kubernetes-int-or-string") && !has_combinator(map) {
        if map.contains_key("properties") || map.contains_key("additionalProperties") {
            map.insert("type".into(), "object".into());
        } else if map.contains_key("items") {
            map.insert("type".into(), "array".into());
        } else {
            map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
        }
    }
    let is_object = map.get("type").and_then(Value::as_str) == Some("object");
    if is_object && !map.contains_key("additionalProperties") {
        map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(loosen);
    }
    match map.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(loosen),
        Some(items) => loosen(items),
        None => {}
    }
    if let Some(additional @ Value::Object(_)) = map.get_mut("additionalProperties") {
        loosen(additional);
    }
}

fn is_set(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool) == Some(true)
}

/// `anyOf`/`oneOf`/`allOf`/`not` nodes may not declare types of their own in a structural schema.
fn has_combinator(map: &Map<String, Value>) -> bool {
    ["anyOf", "oneOf", "allOf", "not"].iter().any(|k| map.contains_key(*k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(schema: Option<JSONSchemaProps>) -> Value {
        serde_json::to_value(schema).unwrap()
    }

    #[test]
    fn a_v1_schema_is_kept_and_gets_an_object_root() {
        let schema = json!({"properties": {"n": {"type": "integer"}}});
        let got = json_of(parameters_schema(Some(&schema), false).unwrap());
        assert_eq!(got, json!({"type": "object", "properties": {"n": {"type": "integer"}}}));
    }

    #[test]
    fn a_legacy_schema_keeps_unknown_fields_at_every_level() {
        let schema =
            json!({"type": "object", "properties": {"nested": {"properties": {"i": {"type": "integer"}}}, "free": {}}});
        let got = json_of(parameters_schema(Some(&schema), true).unwrap());
        assert_eq!(got["x-kubernetes-preserve-unknown-fields"], json!(true));
        assert_eq!(got["properties"]["nested"]["type"], json!("object"));
        assert_eq!(got["properties"]["nested"]["x-kubernetes-preserve-unknown-fields"], json!(true));
        assert_eq!(got["properties"]["nested"]["properties"]["i"], json!({"type": "integer"}));
        assert_eq!(got["properties"]["free"], json!({"x-kubernetes-preserve-unknown-fields": true}));
    }

    #[test]
    fn no_schema_means_no_parameters_in_v1_and_anything_in_legacy() {
        assert!(parameters_schema(None, false).unwrap().is_none());
        assert_eq!(
            json_of(parameters_schema(None, true).unwrap()),
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
    }
}
