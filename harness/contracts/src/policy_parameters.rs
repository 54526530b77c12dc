//! Azure Policy parameters, as ARM treats them: an assignment's values checked against a
//! definition's `properties.parameters` declarations, and the `[parameters('x')]` expressions of a
//! definition's `policyRule` resolved with them. azure-sim applies this to assignments, and
//! `harness policy check --definition` to `--param` values, so both give the same verdicts and the
//! same ARM error codes ([`ParameterError::code`]).
//!
//! Names, declared types and string `allowedValues` compare case-insensitively, as ARM does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Resolved values by their declared name.
pub type Parameters = BTreeMap<String, Value>;

const TYPES: &[&str] = &["String", "Array", "Object", "Boolean", "Integer", "Float", "DateTime"];

/// What is wrong with the given parameters. Each has its own ARM code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParameterError {
    #[error("parameter(s) '{}' are not defined in the policy definition", names.join(", "))]
    Undefined { names: Vec<String> },
    #[error("parameter(s) '{}' have no value and no default", names.join(", "))]
    Missing { names: Vec<String> },
    #[error("the value of parameter '{name}' must be of type '{declared}', found {found}")]
    InvalidType { name: String, declared: String, found: String },
    #[error("the value '{value}' of parameter '{name}' is not allowed; allowed values are {allowed}")]
    NotAllowed { name: String, value: Value, allowed: Value },
}

impl ParameterError {
    /// ARM's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ParameterError::Undefined { .. } => "UndefinedPolicyParameter",
            ParameterError::Missing { .. } => "MissingPolicyParameter",
            ParameterError::InvalidType { .. } => "InvalidPolicyParameterType",
            ParameterError::NotAllowed { .. } => "PolicyParameterValueNotAllowed",
        }
    }
}

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

/// "an array", "a string", ... for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn allowed(value: &Value, allowed_values: &[Value]) -> bool {
    allowed_values.iter().any(|a| match (a, value) {
        (Value::String(a), Value::String(v)) => a.eq_ignore_ascii_case(v),
        (a, v) => a == v,
    })
}

/// The declaration of `name` (case-insensitive).
pub fn declaration<'a>(declared: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    declared.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Every declared parameter's value: the given one, else its `defaultValue`. Names not declared,
/// missing values, wrong types and values outside `allowedValues` are errors, checked in ARM's order.
/// When a name is given twice, the last one counts.
pub fn resolve(declared: &Map<String, Value>, given: &[(String, Value)]) -> Result<Parameters, ParameterError> {
    let undefined: Vec<String> =
        given.iter().filter(|(k, _)| declaration(declared, k).is_none()).map(|(k, _)| k.clone()).collect();
    if !undefined.is_empty() {
        return Err(ParameterError::Undefined { names: undefined });
    }
    let mut resolved = Parameters::new();
    let mut missing = Vec::new();
    for (name, decl) in declared {
        let value = match given.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some((_, v)) => v.clone(),
            None => match decl.get("defaultValue") {
                Some(default) => default.clone(),
                None => {
                    missing.push(name.clone());
                    continue;
                }
            },
        };
        let declared_type = decl.get("type").and_then(Value::as_str).unwrap_or("String");
        if !has_type(&value, declared_type) {
            let found = kind_of(&value).to_string();
            return Err(ParameterError::InvalidType { name: name.clone(), declared: declared_type.into(), found });
        }
        if let Some(values) = decl.get("allowedValues").and_then(Value::as_array).filter(|v| !allowed(&value, v)) {
            return Err(ParameterError::NotAllowed {
                name: name.clone(),
                value,
                allowed: Value::Array(values.clone()),
            });
        }
        resolved.insert(name.clone(), value);
    }
    if !missing.is_empty() {
        return Err(ParameterError::Missing { names: missing });
    }
    Ok(resolved)
}

/// `value` with every ARM expression string replaced by what it evaluates to, recursively through
/// arrays and objects: `[parameters('x')]`, its sub-fields (`[parameters('x').a.b]`, property names
/// case-insensitive), and `[[...` (a literal starting with `[`). Anything else in brackets is an
/// error naming `field` (the path of `value` in its document).
pub fn expand(value: &Value, params: &Parameters, field: &str) -> Result<Value, String> {
    match value {
        Value::String(text) => expand_string(text, params, field),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| expand(v, params, &format!("{field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| expand(v, params, &format!("{field}.{k}")).map(|v| (k.clone(), v)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn expand_string(text: &str, params: &Parameters, field: &str) -> Result<Value, String> {
    if let Some(literal) = text.strip_prefix("[[") {
        return Ok(Value::String(format!("[{literal}")));
    }
    let Some(expr) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return Ok(Value::String(text.to_string()));
    };
    let unsupported =
        || format!("{field}: unsupported ARM expression `{text}` (only [parameters('name')] and its .fields)");
    let rest = expr.trim().strip_prefix("parameters(").ok_or_else(unsupported)?;
    let close = rest.find(')').ok_or_else(unsupported)?;
    let name = rest[..close].trim();
    let name = name.strip_prefix('\'').and_then(|n| n.strip_suffix('\'')).ok_or_else(unsupported)?;
    let mut current =
        params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).ok_or_else(|| {
            format!("{field}: `{text}` names parameter '{name}', which the definition does not declare")
        })?;
    let path = rest[close + 1..].trim();
    if !path.is_empty() {
        let path = path.strip_prefix('.').ok_or_else(unsupported)?;
        for segment in path.split('.') {
            current = current
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(segment)))
                .map(|(_, v)| v)
                .ok_or_else(|| format!("{field}: `{text}`: the value of '{name}' has no property '{segment}'"))?;
        }
    }
    Ok(current.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> Map<String, Value> {
        json!({
            "effect": {"type": "String", "defaultValue": "Audit", "allowedValues": ["Audit", "Deny", "Disabled"]},
            "excludedNamespaces": {"type": "Array", "defaultValue": ["kube-system"]},
            "allowedHostPaths": {"type": "Object", "defaultValue": {"paths": []}},
            "cpuLimit": {"type": "string"},
            "maxCount": {"type": "Integer", "defaultValue": 3},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn given(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn defaults_fill_in_and_names_and_allowed_strings_ignore_case() {
        let p = resolve(&declared(), &given(&[("CPULIMIT", json!("200")), ("effect", json!("deny"))])).unwrap();
        assert_eq!(p["cpuLimit"], json!("200"));
        assert_eq!(p["effect"], json!("deny"));
        assert_eq!(p["maxCount"], json!(3));
        assert_eq!(p["excludedNamespaces"], json!(["kube-system"]));
    }

    #[test]
    fn each_mistake_has_its_arm_code() {
        let code = |pairs: &[(&str, Value)]| resolve(&declared(), &given(pairs)).unwrap_err().code();
        assert_eq!(code(&[]), "MissingPolicyParameter");
        assert_eq!(code(&[("cpuLimit", json!("1")), ("nope", json!(1))]), "UndefinedPolicyParameter");
        assert_eq!(code(&[("cpuLimit", json!("1")), ("maxCount", json!("x"))]), "InvalidPolicyParameterType");
        assert_eq!(code(&[("cpuLimit", json!("1")), ("effect", json!("mutate"))]), "PolicyParameterValueNotAllowed");
    }

    #[test]
    fn expressions_resolve_with_sub_fields_and_literals() {
        let p = resolve(
            &declared(),
            &given(&[("cpuLimit", json!("1")), ("allowedHostPaths", json!({"paths": [{"pathPrefix": "/a"}]}))]),
        )
        .unwrap();
        let details = json!({
            "values": {
                "allowedHostPaths": "[parameters('allowedHostPaths').paths]",
                "nested": {"limit": "[parameters('cpuLimit')]"},
                "caps": ["SYS_ADMIN"],
                "escaped": "[[not an expression]",
            },
            "excludedNamespaces": "[parameters('excludedNamespaces')]",
        });
        assert_eq!(
            expand(&details, &p, "details").unwrap(),
            json!({
                "values": {"allowedHostPaths": [{"pathPrefix": "/a"}], "nested": {"limit": "1"}, "caps": ["SYS_ADMIN"], "escaped": "[not an expression]"},
                "excludedNamespaces": ["kube-system"],
            })
        );
    }

    #[test]
    fn bad_expressions_name_the_field() {
        let p = Parameters::from([("a".to_string(), json!({"b": 1}))]);
        let err = expand(&json!({"x": "[concat('a','b')]"}), &p, "details").unwrap_err();
        assert!(err.starts_with("details.x: unsupported ARM expression"), "{err}");
        let err = expand(&json!(["[parameters('zz')]"]), &p, "details.kinds").unwrap_err();
        assert!(err.contains("details.kinds[0]") && err.contains("'zz'"), "{err}");
        assert!(expand(&json!("[parameters('a').c]"), &p, "v").unwrap_err().contains("no property 'c'"));
    }
}
