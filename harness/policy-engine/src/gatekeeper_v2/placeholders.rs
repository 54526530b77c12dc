//! Filling the Azure placeholders `{{AzurePolicyID}}` and `{{policyParameters.<name>}}`.
//!
//! The 2019 add-on pasted values into the Rego as plain text. Since the placeholders sit inside Rego
//! string literals, a regex such as `^.+\.azurecr\.io/.+$` became an invalid escape (`\.`) and the
//! whole policy failed to compile, and a `"` ended the string early. Here a value that lands inside a
//! `"…"` literal is escaped for that literal (`\` → `\\`, `"` → `\"`, control characters as `\uXXXX`),
//! so the policy sees exactly the string the assignment gave. This is a deliberate improvement on the
//! add-on; a value outside any string literal is still pasted verbatim.
//!
//! Unknown `{{…}}` texts are left alone, so Rego such as a set of sets (`{{1}}`) is never touched.

use serde_json::{Map, Value};

use crate::PlaceholderError;
use crate::rego::tokens::{Kind, tokenize};

const POLICY_ID: &str = "AzurePolicyID";
const PARAM_PREFIX: &str = "policyParameters.";

/// Replace every placeholder in `rego`. A parameter missing from `params` is an error naming it.
/// String parameters are used as is; other JSON values as their JSON text.
pub fn fill_placeholders(rego: &str, policy_id: &str, params: &Map<String, Value>) -> Result<String, PlaceholderError> {
    let strings: Vec<(usize, usize)> = tokenize(rego)
        .into_iter()
        .filter(|t| t.kind == Kind::Str && rego[t.start..].starts_with('"'))
        .map(|t| (t.start, t.end))
        .collect();
    let in_string = |at: usize| strings.iter().any(|&(s, e)| s < at && at < e);

    let mut out = String::with_capacity(rego.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(open) = rego[search..].find("{{").map(|i| i + search) {
        let Some(close) = rego[open + 2..].find("}}").map(|i| i + open + 2) else { break };
        let name = rego[open + 2..close].trim();
        let value = if name == POLICY_ID {
            policy_id.to_string()
        } else if let Some(param) = name.strip_prefix(PARAM_PREFIX) {
            match params.get(param) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return Err(PlaceholderError::MissingParameter(param.to_string())),
            }
        } else {
            search = open + 2;
            continue;
        };
        out.push_str(&rego[rest..open]);
        if in_string(open) {
            out.push_str(&escape_for_string_literal(&value));
        } else {
            out.push_str(&value);
        }
        rest = close + 2;
        search = rest;
    }
    out.push_str(&rego[rest..]);
    Ok(out)
}

/// The body of a JSON (= Rego) string literal for `value`, without the surrounding quotes.
fn escape_for_string_literal(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn fills_id_and_parameters() {
        let rego = r#"x := "{{AzurePolicyID}}: {{ policyParameters.re }}""#;
        let got = fill_placeholders(rego, "/subscriptions/s/a1", &params(json!({"re": "^a$"}))).unwrap();
        assert_eq!(got, r#"x := "/subscriptions/s/a1: ^a$""#);
    }

    #[test]
    fn escapes_values_inside_string_literals() {
        let rego = r#"re := "{{policyParameters.re}}""#;
        let got = fill_placeholders(rego, "id", &params(json!({"re": r#"^.+\.azurecr\.io/"x".+$"#}))).unwrap();
        assert_eq!(got, r#"re := "^.+\\.azurecr\\.io/\"x\".+$""#);
    }

    #[test]
    fn outside_strings_values_are_pasted() {
        let got = fill_placeholders("n := {{policyParameters.n}}", "id", &params(json!({"n": 3}))).unwrap();
        assert_eq!(got, "n := 3");
    }

    #[test]
    fn missing_parameter_is_named() {
        let err = fill_placeholders(r#""{{policyParameters.labels}}""#, "id", &Map::new()).unwrap_err();
        assert_eq!(err, PlaceholderError::MissingParameter("labels".into()));
        assert!(err.to_string().contains("labels"));
    }

    #[test]
    fn other_braces_are_untouched() {
        let rego = "s := {{1}}\nt := \"{{unknown}}\"\nu := \"{{\"";
        assert_eq!(fill_placeholders(rego, "id", &Map::new()).unwrap(), rego);
    }
}
