//! ARM parameters of a `Microsoft.Kubernetes.Data` definition: the values an assignment (here:
//! `--param NAME=VALUE`) gives, checked against `properties.parameters` as ARM checks them, and the
//! `[parameters('x')]` expressions of `policyRule.then` resolved with them (reference §4.2–4.4).
//! The error codes are ARM's, the same ones azure-sim returns for assignments.

use contracts::policy_parameters::{self, ParameterError};
use serde_json::{Map, Value};

use super::GatekeeperError;

pub use contracts::policy_parameters::{Parameters, expand};

/// `--param` text as a value: JSON when it parses (`5`, `true`, `["a"]`, `{"k":1}`), else the text
/// itself. A parameter declared `String` keeps the text, so `--param cpuLimit=200` stays `"200"`.
pub fn cli_value(text: &str, declared_type: Option<&str>) -> Value {
    if declared_type.is_some_and(|t| t.eq_ignore_ascii_case("string")) {
        return Value::String(text.to_string());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Every declared parameter's value: the given one (`given` holds raw `--param` texts), else the
/// `defaultValue`, by ARM's rules ([`contracts::policy_parameters`]); mistakes carry ARM's codes and
/// `file` names the definition.
pub fn resolve(
    declared: &Map<String, Value>,
    given: &[(String, String)],
    file: &str,
) -> Result<Parameters, GatekeeperError> {
    let values: Vec<(String, Value)> = given
        .iter()
        .map(|(name, text)| {
            let declared_type = policy_parameters::declaration(declared, name).and_then(|(_, d)| d["type"].as_str());
            (name.clone(), cli_value(text, declared_type))
        })
        .collect();
    policy_parameters::resolve(declared, &values).map_err(|e| {
        let message = match &e {
            ParameterError::Undefined { names } => {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                format!(
                    "parameter(s) '{}' are not defined in the definition; it declares: {}",
                    names.join(", "),
                    known.join(", ")
                )
            }
            ParameterError::Missing { names } => {
                format!("parameter(s) '{}' have no default value; pass --param NAME=VALUE", names.join(", "))
            }
            other => other.to_string(),
        };
        GatekeeperError::AzureDefinition { file: file.to_string(), code: e.code().to_string(), message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> Map<String, Value> {
        json!({
            "effect": {"type": "String", "defaultValue": "Audit", "allowedValues": ["audit", "Audit", "deny", "Deny", "disabled", "Disabled"]},
            "excludedNamespaces": {"type": "Array", "defaultValue": ["kube-system"]},
            "allowedHostPaths": {"type": "Object", "defaultValue": {"paths": []}},
            "cpuLimit": {"type": "String"},
            "maxCount": {"type": "Integer", "defaultValue": 3},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn code(err: GatekeeperError) -> String {
        match err {
            GatekeeperError::AzureDefinition { code, .. } => code,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn defaults_fill_in_and_values_parse_as_json_unless_declared_string() {
        let p = resolve(&declared(), &given(&[("CPULIMIT", "200"), ("maxCount", "5"), ("effect", "deny")]), "d.json")
            .unwrap();
        assert_eq!(p["cpuLimit"], json!("200"));
        assert_eq!(p["maxCount"], json!(5));
        assert_eq!(p["effect"], json!("deny"));
        assert_eq!(p["excludedNamespaces"], json!(["kube-system"]));
    }

    #[test]
    fn arm_codes_for_each_mistake() {
        assert_eq!(code(resolve(&declared(), &[], "d").unwrap_err()), "MissingPolicyParameter");
        assert_eq!(
            code(resolve(&declared(), &given(&[("cpuLimit", "1"), ("nope", "1")]), "d").unwrap_err()),
            "UndefinedPolicyParameter"
        );
        assert_eq!(
            code(resolve(&declared(), &given(&[("cpuLimit", "1"), ("maxCount", "x")]), "d").unwrap_err()),
            "InvalidPolicyParameterType"
        );
        assert_eq!(
            code(resolve(&declared(), &given(&[("cpuLimit", "1"), ("effect", "mutate")]), "d").unwrap_err()),
            "PolicyParameterValueNotAllowed"
        );
    }
}
