//! Decoding `deny` elements into [`Violation`]s for the unbound audit query.

use regorus::Value;

use crate::{ResourceRef, Violation};

/// A Rego value as text: strings bare, anything else as JSON (ids and messages are strings in every
/// policy we know; this keeps odd ones visible instead of dropping them).
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        Value::Undefined => String::new(),
        other => other.to_json_str().unwrap_or_default(),
    }
}

/// Elements of the `deny` set that fit Gatekeeper's audit pattern
/// `{"id": id, "resource": resource, "resolution": resolution}`; like that pattern, anything with
/// other top-level keys does not match.
pub(crate) fn decode_deny_set(deny: &Value) -> Vec<Violation> {
    let Ok(set) = deny.as_set() else { return Vec::new() };
    set.iter()
        .filter_map(|element| {
            let obj = element.as_object().ok()?;
            if obj.len() != 3 {
                return None;
            }
            let resource = obj.get(&Value::from("resource"))?;
            let resolution = obj.get(&Value::from("resolution"))?;
            let id = obj.get(&Value::from("id"))?;
            let field = |k: &str| text(&resource[&Value::from(k)]);
            Some(Violation {
                id: text(id),
                resource: ResourceRef { kind: field("kind"), namespace: field("namespace"), name: field("name") },
                message: text(&resolution[&Value::from("message")]),
            })
        })
        .collect()
}
