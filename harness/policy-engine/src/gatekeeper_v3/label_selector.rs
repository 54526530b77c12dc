//! A Kubernetes label selector (`matchLabels` + `matchExpressions`) as `spec.match.labelSelector`
//! and `spec.match.namespaceSelector` use it (reference §1.4).
//!
//! Parsing checks what the API server and gator check when a Constraint is admitted, because a
//! selector Gatekeeper would refuse must not silently match here (measured with gator v3.23.1):
//! * operators are exactly `In`, `NotIn`, `Exists`, `DoesNotExist` ("not a valid selector operator");
//! * `In`/`NotIn` need `values`, `Exists`/`DoesNotExist` must not have any;
//! * keys are qualified names and values valid label values;
//! * unknown fields are refused (the Constraint CRD's schema is structural).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::GatekeeperError;

/// A parsed selector. `matchLabels` entries are kept as `In` requirements with one value, as
/// Kubernetes converts them; everything is ANDed and an empty selector selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// The values of `In`/`NotIn`; empty for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A label value: empty, or at most 63 characters of alphanumerics, `-`, `_`, `.` starting and
/// ending alphanumeric.
static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").expect("static regex"));
/// The prefix of a qualified name: a DNS subdomain.
static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").expect("static regex")
});

impl LabelSelector {
    /// Parse a selector found at `field` (e.g. `spec.match.labelSelector`) of `source`.
    pub fn from_value(value: &Value, source: &str, field: &str) -> Result<LabelSelector, GatekeeperError> {
        let object = value.as_object().ok_or_else(|| {
            GatekeeperError::invalid(source, field, "an object with matchLabels and/or matchExpressions")
        })?;
        reject_unknown(object, &["matchLabels", "matchExpressions"], source, field)?;
        let mut requirements = Vec::new();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                // Sorted, as Kubernetes sorts requirements; it makes `requirements` comparable.
                let sorted: BTreeMap<_, _> = labels.iter().collect();
                for (key, value) in sorted {
                    let at = format!("{field}.matchLabels.{key}");
                    check_key(key, source, &at)?;
                    let value = value.as_str().ok_or_else(|| GatekeeperError::invalid(source, &at, "a string"))?;
                    check_value(value, source, &at)?;
                    requirements.push(Requirement {
                        key: key.clone(),
                        operator: Operator::In,
                        values: vec![value.into()],
                    });
                }
            }
            Some(_) => {
                return Err(GatekeeperError::invalid(source, format!("{field}.matchLabels"), "a map of strings"));
            }
        }
        match object.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(expressions)) => {
                for (i, expression) in expressions.iter().enumerate() {
                    let at = format!("{field}.matchExpressions[{i}]");
                    requirements.push(parse_expression(expression, source, &at)?);
                }
            }
            Some(_) => return Err(GatekeeperError::invalid(source, format!("{field}.matchExpressions"), "a list")),
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether a set of labels (`metadata.labels`; absent or not a map counts as no labels) is selected.
    /// A map with a non-string value counts as no labels too: Gatekeeper decodes the object into a
    /// typed object first, which fails as a whole (measured with gator v3.23.1 by
    /// `tests/gator_differential.rs`; the API server never stores such an object).
    pub fn matches(&self, labels: &Value) -> bool {
        let labels = labels.as_object().filter(|l| l.values().all(Value::is_string));
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key)).and_then(Value::as_str);
        let listed = || value.is_some_and(|v| self.values.iter().any(|x| x == v));
        match self.operator {
            Operator::In => listed(),
            // Kubernetes: NotIn also selects objects that lack the key.
            Operator::NotIn => !listed(),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

fn parse_expression(expression: &Value, source: &str, at: &str) -> Result<Requirement, GatekeeperError> {
    let object = expression
        .as_object()
        .ok_or_else(|| GatekeeperError::invalid(source, at, "an object {key, operator, values}"))?;
    reject_unknown(object, &["key", "operator", "values"], source, at)?;
    let key = object
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| GatekeeperError::invalid(source, format!("{at}.key"), "a string"))?;
    check_key(key, source, &format!("{at}.key"))?;
    let operator = match object.get("operator").and_then(Value::as_str) {
        Some("In") => Operator::In,
        Some("NotIn") => Operator::NotIn,
        Some("Exists") => Operator::Exists,
        Some("DoesNotExist") => Operator::DoesNotExist,
        other => {
            return Err(GatekeeperError::invalid(
                source,
                format!("{at}.operator"),
                format!(
                    "one of In, NotIn, Exists, DoesNotExist (case-sensitive), got {}",
                    other.map_or("nothing".to_string(), |o| format!("{o:?}"))
                ),
            ));
        }
    };
    let values_at = format!("{at}.values");
    let values = match object.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let v_at = format!("{values_at}[{i}]");
                let v = v.as_str().ok_or_else(|| GatekeeperError::invalid(source, &v_at, "a string"))?;
                check_value(v, source, &v_at)?;
                Ok(v.to_string())
            })
            .collect::<Result<_, GatekeeperError>>()?,
        Some(_) => return Err(GatekeeperError::invalid(source, values_at, "a list of strings")),
    };
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            Err(GatekeeperError::invalid(source, values_at, "at least one value when the operator is In or NotIn"))
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            Err(GatekeeperError::invalid(source, values_at, "no values when the operator is Exists or DoesNotExist"))
        }
        _ => Ok(Requirement { key: key.to_string(), operator, values }),
    }
}

/// A qualified name: `[prefix/]name`, name ≤ 63 characters like a label value (but non-empty),
/// prefix a DNS subdomain ≤ 253 characters.
fn check_key(key: &str, source: &str, at: &str) -> Result<(), GatekeeperError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty() && name.len() <= 63 && LABEL_VALUE.is_match(name);
    let prefix_ok = prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && DNS_SUBDOMAIN.is_match(p));
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(GatekeeperError::invalid(
            source,
            at,
            format!("a label key ([dns-subdomain/]name, name ≤ 63 alphanumerics, '-', '_', '.'), got {key:?}"),
        ))
    }
}

fn check_value(value: &str, source: &str, at: &str) -> Result<(), GatekeeperError> {
    if value.len() <= 63 && LABEL_VALUE.is_match(value) {
        Ok(())
    } else {
        Err(GatekeeperError::invalid(
            source,
            at,
            format!(
                "a label value (empty or ≤ 63 alphanumerics, '-', '_', '.', alphanumeric at both ends), got {value:?}"
            ),
        ))
    }
}

/// The Constraint CRD is structural: fields it does not declare are refused by gator
/// ("invalid Constraint: unknown fields: [spec.match.bogus]").
pub(crate) fn reject_unknown(
    object: &Map<String, Value>,
    known: &[&str],
    source: &str,
    field: &str,
) -> Result<(), GatekeeperError> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(GatekeeperError::invalid(
            source,
            if field.is_empty() { unknown.clone() } else { format!("{field}.{unknown}") },
            format!("no such field (known: {})", known.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(v: Value) -> LabelSelector {
        LabelSelector::from_value(&v, "c.yaml", "spec.match.labelSelector").unwrap()
    }

    #[test]
    fn operators_follow_kubernetes() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selector(json!({"matchLabels": {"app": "web"}})).matches(&labels));
        assert!(!selector(json!({"matchLabels": {"app": "db"}})).matches(&labels));
        let expr = |op: &str, values: Value| {
            let mut e = json!({"key": "tier", "operator": op});
            if !values.is_null() {
                e["values"] = values;
            }
            selector(json!({"matchExpressions": [e]}))
        };
        assert!(expr("In", json!(["front", "back"])).matches(&labels));
        assert!(!expr("In", json!(["back"])).matches(&labels));
        assert!(expr("NotIn", json!(["back"])).matches(&labels));
        assert!(!expr("NotIn", json!(["front"])).matches(&labels));
        assert!(expr("NotIn", json!(["front"])).matches(&json!({})), "NotIn selects objects without the key");
        assert!(expr("Exists", Value::Null).matches(&labels));
        assert!(!expr("Exists", Value::Null).matches(&Value::Null));
        assert!(expr("DoesNotExist", Value::Null).matches(&Value::Null));
        assert!(!expr("DoesNotExist", Value::Null).matches(&labels));
        let mistyped = json!({"app": "web", "tier": "front", "replicas": 3});
        assert!(!selector(json!({"matchLabels": {"app": "web"}})).matches(&mistyped), "every label is ignored");
        assert!(expr("DoesNotExist", Value::Null).matches(&mistyped));
    }

    #[test]
    fn match_labels_and_expressions_are_anded_and_empty_selects_all() {
        let s = selector(json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}));
        assert!(s.matches(&json!({"app": "web"})));
        assert!(!s.matches(&json!({"app": "web", "tier": "x"})));
        assert!(selector(json!({})).matches(&Value::Null));
    }

    #[test]
    fn invalid_selectors_are_refused_with_the_field() {
        let err =
            |v: Value| LabelSelector::from_value(&v, "c.yaml", "spec.match.labelSelector").unwrap_err().to_string();
        assert!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}))
                .starts_with("c.yaml: spec.match.labelSelector.matchExpressions[0].operator: one of In, NotIn")
        );
        assert!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
                .contains("matchExpressions[0].values: at least one value")
        );
        assert!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}))
                .contains("no values when")
        );
        assert!(err(json!({"matchLabels": {"a": "b c"}})).contains("matchLabels.a: a label value"));
        assert!(err(json!({"matchLabels": {"a b": "c"}})).contains("a label key"));
        assert!(err(json!({"matchLabel": {}})).contains("spec.match.labelSelector.matchLabel: no such field"));
        assert!(err(json!(["x"])).contains("an object"));
    }

    #[test]
    fn qualified_keys_are_accepted() {
        let s = selector(json!({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}));
        assert!(s.matches(&json!({"kubernetes.io/metadata.name": "kube-system"})));
    }
}
