//! Policy parameters: checking an assignment's `{"name": {"value": ...}}` map against the
//! definition's declarations, and resolving `[parameters('x')]` expressions. Each kind of mistake
//! gets its own 400 code and a message that names the parameter, because a user fixing an
//! `az policy assignment create --params` call needs exactly that.

use std::collections::BTreeMap;

use contracts::policy_parameters::{self, ParameterError};
use serde_json::{Map, Value};

use crate::error::kind_of;
use crate::error::{ArmError, ArmResult};

pub use contracts::policy_parameters::{canonical_type, expand, has_type};

/// Checks the assignment's parameters (`{"name": {"value": ...}}`) against the definition's and
/// returns every definition parameter's resolved value (assignment value, else default). The rules
/// are [`contracts::policy_parameters`]'; the messages name the assignment and the definition.
pub fn resolve(
    declared: &Map<String, Value>,
    given: &Map<String, Value>,
    assignment: &str,
    definition: &str,
) -> ArmResult<BTreeMap<String, Value>> {
    let mut values = Vec::with_capacity(given.len());
    for (name, supplied) in given {
        match supplied {
            Value::Object(wrapper) if wrapper.contains_key("value") => {
                values.push((name.clone(), wrapper["value"].clone()))
            }
            // An undeclared name is reported as such, whatever its shape.
            other if policy_parameters::declaration(declared, name).is_none() => {
                values.push((name.clone(), other.clone()))
            }
            other => {
                return Err(ArmError::bad_request(
                    "InvalidPolicyParameters",
                    format!(
                        "The parameter '{name}' of policy assignment '{assignment}' must be given as {{\"value\": <value>}}, found {}.",
                        kind_of(other)
                    ),
                ));
            }
        }
    }
    policy_parameters::resolve(declared, &values).map_err(|e| {
        let message = match &e {
            ParameterError::Undefined { names } => format!(
                "The policy assignment '{assignment}' has the parameter(s) '{}' which are not defined in the policy definition '{definition}'.",
                names.join(", ")
            ),
            ParameterError::Missing { names } => format!(
                "The policy assignment '{assignment}' is missing the parameter(s) '{}' as defined in the policy definition '{definition}'.",
                names.join(", ")
            ),
            ParameterError::InvalidType { name, declared, found } => format!(
                "The value of parameter '{name}' of policy assignment '{assignment}' must be of type '{declared}', found {found}."
            ),
            ParameterError::NotAllowed { name, value, allowed } => format!(
                "The value '{value}' of parameter '{name}' of policy assignment '{assignment}' is not allowed; allowed values are {allowed}."
            ),
        };
        ArmError::bad_request(e.code(), message)
    })
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
        assert_eq!(expand(&json!("[parameters('regex')]"), &r, "x"), Ok(json!("^x$")));
        assert_eq!(expand(&json!("[[literal]"), &r, "x"), Ok(json!("[literal]")));
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
