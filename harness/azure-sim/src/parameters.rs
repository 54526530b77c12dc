//! Policy parameters: checking an assignment's `{"name": {"value": ...}}` map against the
//! definition's declarations, and resolving `[parameters('x')]` expressions. Each kind of mistake
//! gets its own 400 code and a message that names the parameter, because a user fixing an
//! `az policy assignment create --params` call needs exactly that.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::kind_of;
use crate::error::{ArmError, ArmResult};

const TYPES: &[&str] = &["String", "Array", "Object", "Boolean", "Integer", "Float", "DateTime"];

/// The declared type of a parameter, canonical casing, if it is one ARM knows.
pub fn canonical_type(declared: &str) -> Option<&'static str> {
    TYPES.iter().copied().find(|t| t.eq_ignore_ascii_case(declared))
}

/// Whether `value` has the declared type.
pub fn has_type(value: &Value, declared: &str) -> bool {
    match canonical_type(declared) {
        Some("String") => value.is_string(),
        Some("Array") => value.is_array(),
        Some("Object") => value.is_object(),
        Some("Boolean") => value.is_boolean(),
        Some("Integer") => value.is_i64() || value.is_u64(),
        Some("Float") => value.is_number(),
        Some("DateTime") => value.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        _ => false,
    }
}

fn allowed(value: &Value, allowed_values: &[Value]) -> bool {
    allowed_values.iter().any(|a| match (a, value) {
        (Value::String(a), Value::String(v)) => a.eq_ignore_ascii_case(v),
        (a, v) => a == v,
    })
}

/// Checks the assignment's parameters against the definition's and returns every definition
/// parameter's resolved value (assignment value, else default).
pub fn resolve(
    declared: &Map<String, Value>,
    given: &Map<String, Value>,
    assignment: &str,
    definition: &str,
) -> ArmResult<BTreeMap<String, Value>> {
    let find = |name: &str| declared.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    let undefined: Vec<&str> = given.keys().filter(|k| find(k).is_none()).map(String::as_str).collect();
    if !undefined.is_empty() {
        return Err(ArmError::bad_request(
            "UndefinedPolicyParameter",
            format!(
                "The policy assignment '{assignment}' has the parameter(s) '{}' which are not defined in the policy definition '{definition}'.",
                undefined.join(", ")
            ),
        ));
    }
    let mut resolved = BTreeMap::new();
    let mut missing = Vec::new();
    for (name, decl) in declared {
        let supplied = given.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let value = match supplied {
            Some(Value::Object(wrapper)) if wrapper.contains_key("value") => wrapper["value"].clone(),
            Some(other) => {
                return Err(ArmError::bad_request(
                    "InvalidPolicyParameters",
                    format!(
                        "The parameter '{name}' of policy assignment '{assignment}' must be given as {{\"value\": <value>}}, found {}.",
                        kind_of(other)
                    ),
                ));
            }
            None => match decl.get("defaultValue") {
                Some(default) => default.clone(),
                None => {
                    missing.push(name.as_str());
                    continue;
                }
            },
        };
        check_value(name, decl, &value, assignment)?;
        resolved.insert(name.clone(), value);
    }
    if !missing.is_empty() {
        return Err(ArmError::bad_request(
            "MissingPolicyParameter",
            format!(
                "The policy assignment '{assignment}' is missing the parameter(s) '{}' as defined in the policy definition '{definition}'.",
                missing.join(", ")
            ),
        ));
    }
    Ok(resolved)
}

fn check_value(name: &str, decl: &Value, value: &Value, assignment: &str) -> ArmResult<()> {
    let declared_type = decl["type"].as_str().unwrap_or("String");
    if !has_type(value, declared_type) {
        return Err(ArmError::bad_request(
            "InvalidPolicyParameterType",
            format!(
                "The value of parameter '{name}' of policy assignment '{assignment}' must be of type '{declared_type}', found {}.",
                kind_of(value)
            ),
        ));
    }
    if let Some(values) = decl["allowedValues"].as_array().filter(|v| !allowed(value, v)) {
        return Err(ArmError::bad_request(
            "PolicyParameterValueNotAllowed",
            format!(
                "The value '{value}' of parameter '{name}' of policy assignment '{assignment}' is not allowed; allowed values are {}.",
                Value::Array(values.clone())
            ),
        ));
    }
    Ok(())
}

/// Resolves a definition-side value: `[parameters('x')]` becomes the parameter's value, anything
/// else (a literal) is returned as is. `[[` escapes a literal that starts with `[`.
pub fn expand(template: &Value, params: &BTreeMap<String, Value>) -> Option<Value> {
    let Some(text) = template.as_str() else { return Some(template.clone()) };
    if let Some(literal) = text.strip_prefix("[[") {
        return Some(Value::String(format!("[{literal}")));
    }
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
    let Some(inner) = inner else { return Some(template.clone()) };
    let name = inner.trim().strip_prefix("parameters(")?.strip_suffix(')')?.trim().trim_matches('\'');
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> Map<String, Value> {
        json!({
            "effect": {"type": "String", "defaultValue": "EnforceRegoPolicy", "allowedValues": ["EnforceRegoPolicy", "Disabled"]},
            "regex": {"type": "String"},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn check(given: Value) -> ArmResult<BTreeMap<String, Value>> {
        resolve(&declared(), given.as_object().unwrap(), "a", "d")
    }

    #[test]
    fn resolves_defaults_and_values() {
        let r = check(json!({"Regex": {"value": "^x$"}})).unwrap();
        assert_eq!(r["effect"], "EnforceRegoPolicy");
        assert_eq!(expand(&json!("[parameters('regex')]"), &r), Some(json!("^x$")));
        assert_eq!(expand(&json!("[[literal]"), &r), Some(json!("[literal]")));
    }

    #[test]
    fn each_mistake_has_its_code() {
        let code = |v| check(v).unwrap_err().code;
        assert_eq!(code(json!({})), "MissingPolicyParameter");
        assert_eq!(code(json!({"regex": {"value": "x"}, "nope": {"value": 1}})), "UndefinedPolicyParameter");
        assert_eq!(code(json!({"regex": {"value": 5}})), "InvalidPolicyParameterType");
        assert_eq!(code(json!({"regex": "x"})), "InvalidPolicyParameters");
        assert_eq!(
            code(json!({"regex": {"value": "x"}, "effect": {"value": "Audit"}})),
            "PolicyParameterValueNotAllowed"
        );
    }
}
