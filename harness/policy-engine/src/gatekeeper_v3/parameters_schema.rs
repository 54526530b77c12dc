//! `spec.parameters` checked against the template's `openAPIV3Schema`, as the API server checks a
//! Constraint against its generated CRD (reference §1.1, §1.3).
//!
//! Measured with gator v3.23.1 (`gator test -f template -f constraint -f pod`), a template with
//! `ports: {type: array, items: {type: integer}}`, `name: {type: string}`,
//! `nested: {type: object, properties: {inner: {type: integer}}}`:
//!
//! | constraint `spec.parameters`       | `templates.gatekeeper.sh/v1`                                  | `v1beta1` (legacySchema) |
//! |------------------------------------|---------------------------------------------------------------|--------------------------|
//! | `bogus: 1`, `nested.extra: 3`      | `invalid Constraint: unknown fields: [spec.parameters.bogus spec.parameters.nested.extra]` | accepted, **kept**: the policy sees `{"bogus":1,"nested":{"extra":3,...}}` |
//! | `ports: ["80"]`                    | `schema validation failed: [].spec.parameters.ports[0]: Invalid value: "string": spec.parameters.ports[0] in body must be of type integer: "string"` | same error |
//! | `name: 5`                          | `... spec.parameters.name in body must be of type string: "number"` | same error |
//! | `ports: [80.5]`                    | `... must be of type integer: "number"`                       | same error |
//! | `ports: [80.0]`                    | accepted as `80`                                              | accepted |
//! | `[1]` (not an object)              | `spec.parameters in body must be of type object: "array"`     | same error |
//! | enum miss `c`                      | `Unsupported value: "c": supported values: "a", "b"`          | same error |
//! | required `mode` missing            | `spec.parameters.mode: Required value`                        | same error |
//! | `null` where not `nullable`        | `must be of type string: "null"`                              | same error |
//! | anything, template without schema  | `invalid Constraint: unknown fields: [spec.parameters]` (also `{}`) | accepted, kept |
//! | `bare: {a: 1}`, `bare: {type: object}` | `unknown fields: [spec.parameters.bare.a]`                 | accepted, kept |
//!
//! So value validation (types, enum, required, nullable, additionalProperties schemas) applies to
//! both; `legacy` only switches off the unknown-field check, and unknown fields are then passed on
//! unchanged (not pruned). A `v1` template whose schema has an untyped property is itself refused
//! ("type: Required value: must not be empty for specified object fields"); that is the template
//! reader's business, so here a schema without `type` accepts any value.
//!
//! An object schema lets unknown fields through when it has `additionalProperties` (`true` or a
//! schema) or `x-kubernetes-preserve-unknown-fields: true`. `anyOf`/`oneOf`/`allOf` check values
//! only (structural schemas may not declare fields inside them).

use serde_json::{Map, Value};

/// Where `parameters` breaks `schema`: `(path, expected)`, e.g. `(".ports[0]", "an integer, got \"80\"")`.
/// The path is relative to `spec.parameters` (`""` is `spec.parameters` itself). `legacy`
/// (v1beta1/v1alpha1 templates, `legacySchema: true`) lets unknown fields through; types are
/// checked either way. The first problem found is returned.
///
/// `schema` is `Value::Null` when the template declares no `openAPIV3Schema`. A legacy template then
/// takes any parameters; a `v1` one takes none at all, not even `{}` (gator: `invalid Constraint:
/// unknown fields: [spec.parameters]`), so any `parameters` value is an unknown field at `""`.
pub fn validate(schema: &Value, parameters: &Value, legacy: bool) -> Result<(), (String, String)> {
    if schema.is_null() && !legacy {
        return Err((
            String::new(),
            "no parameters: the template (v1) declares no openAPIV3Schema, so spec.parameters is an unknown field"
                .into(),
        ));
    }
    Checker { unknown_fields: !legacy }.check(schema, parameters, "")
}

struct Checker {
    /// Refuse fields an object schema does not declare (structural pruning would drop them and
    /// gator reports them as unknown).
    unknown_fields: bool,
}

impl Checker {
    fn check(&self, schema: &Value, value: &Value, path: &str) -> Result<(), (String, String)> {
        let Some(schema) = schema.as_object() else { return Ok(()) };
        let fail = |expected: String| Err((path.to_string(), expected));
        let flag = |key: &str| schema.get(key).and_then(Value::as_bool).unwrap_or(false);

        if value.is_null() {
            // Untyped or nullable schemas take null; a typed one refuses it like any other wrong type.
            return match schema.get("type").and_then(Value::as_str) {
                Some(t) if !flag("nullable") => fail(format!("{}, got null", describe(t))),
                _ => Ok(()),
            };
        }
        let int_or_string = flag("x-kubernetes-int-or-string");
        if int_or_string {
            if !(is_integer(value) || value.is_string()) {
                return fail(format!("an integer or a string, got {}", show(value)));
            }
        } else if let Some(t) = schema.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => is_integer(value),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                return fail(format!("{}, got {}", describe(t), show(value)));
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.iter().any(|a| same(a, value))
        {
            let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            return fail(format!("one of {}, got {}", list.join(", "), show(value)));
        }
        self.check_bounds(schema, value, path)?;
        self.check_combinators(schema, value, path)?;
        match value {
            Value::Object(object) => self.check_object(schema, object, path),
            Value::Array(items) => match schema.get("items") {
                Some(item_schema) => {
                    items.iter().enumerate().try_for_each(|(i, v)| self.check(item_schema, v, &format!("{path}[{i}]")))
                }
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        path: &str,
    ) -> Result<(), (String, String)> {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err((format!("{path}.{key}"), "a value (the field is required)".to_string()));
                }
            }
        }
        let preserve = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
        let additional = schema.get("additionalProperties");
        for (key, value) in object {
            let at = format!("{path}.{key}");
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                self.check(property, value, &at)?;
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => return Err((at, "no such field (additionalProperties: false)".into())),
                Some(Value::Object(_)) => self.check(additional.unwrap_or(&Value::Null), value, &at)?,
                Some(_) => {}
                None if self.unknown_fields && !preserve => {
                    let known: Vec<&str> = properties.into_iter().flat_map(|p| p.keys()).map(String::as_str).collect();
                    return Err((
                        at,
                        format!(
                            "no such field (unknown field, the template's schema declares {})",
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        ),
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }

    /// `minimum`/`maximum` (with the exclusive flags), `minLength`/`maxLength`, `pattern`,
    /// `minItems`/`maxItems`, `minProperties`/`maxProperties`.
    fn check_bounds(&self, schema: &Map<String, Value>, value: &Value, path: &str) -> Result<(), (String, String)> {
        let fail = |expected: String| Err((path.to_string(), expected));
        let num = |key: &str| schema.get(key).and_then(Value::as_f64);
        let count = |key: &str| schema.get(key).and_then(Value::as_u64).map(|n| n as usize);
        let flag = |key: &str| schema.get(key).and_then(Value::as_bool).unwrap_or(false);
        if let Some(x) = value.as_f64() {
            if let Some(min) = num("minimum")
                && (x < min || (flag("exclusiveMinimum") && x == min))
            {
                return fail(format!(
                    "a number {} {min}, got {}",
                    if flag("exclusiveMinimum") { ">" } else { ">=" },
                    show(value)
                ));
            }
            if let Some(max) = num("maximum")
                && (x > max || (flag("exclusiveMaximum") && x == max))
            {
                return fail(format!(
                    "a number {} {max}, got {}",
                    if flag("exclusiveMaximum") { "<" } else { "<=" },
                    show(value)
                ));
            }
        }
        let (size, what) = match value {
            Value::String(s) => (s.chars().count(), ("Length", "characters")),
            Value::Array(a) => (a.len(), ("Items", "items")),
            Value::Object(o) => (o.len(), ("Properties", "properties")),
            _ => return Ok(()),
        };
        if let Some(min) = count(&format!("min{}", what.0))
            && size < min
        {
            return fail(format!("at least {min} {}, got {size}", what.1));
        }
        if let Some(max) = count(&format!("max{}", what.0))
            && size > max
        {
            return fail(format!("at most {max} {}, got {size}", what.1));
        }
        if let (Value::String(s), Some(pattern)) = (value, schema.get("pattern").and_then(Value::as_str))
            && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(s))
        {
            return fail(format!("a string matching {pattern:?}, got {}", show(value)));
        }
        Ok(())
    }

    /// `allOf`, `anyOf` and `oneOf`, value checks only.
    fn check_combinators(
        &self,
        schema: &Map<String, Value>,
        value: &Value,
        path: &str,
    ) -> Result<(), (String, String)> {
        let values_only = Checker { unknown_fields: false };
        let branches = |key: &str| schema.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for branch in branches("allOf") {
            values_only.check(branch, value, path)?;
        }
        let any_of = branches("anyOf");
        if !any_of.is_empty() && !any_of.iter().any(|b| values_only.check(b, value, path).is_ok()) {
            return Err((path.to_string(), format!("a value matching one of the anyOf schemas, got {}", show(value))));
        }
        let one_of = branches("oneOf");
        if !one_of.is_empty() {
            let n = one_of.iter().filter(|b| values_only.check(b, value, path).is_ok()).count();
            if n != 1 {
                return Err((
                    path.to_string(),
                    format!("a value matching exactly one oneOf schema ({n} match), got {}", show(value)),
                ));
            }
        }
        Ok(())
    }
}

/// Whole numbers only; `80.0` counts (gator accepts it and passes `80`).
fn is_integer(value: &Value) -> bool {
    value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// Equality with numbers compared by value (`80` equals `80.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn describe(schema_type: &str) -> String {
    match schema_type {
        "object" => "an object".into(),
        "array" => "an array".into(),
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}

/// A value for a message: JSON, cut at 60 characters.
fn show(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem(path: &str, expected: &str) -> Result<(), (String, String)> {
        Err((path.to_string(), expected.to_string()))
    }

    #[test]
    fn additional_properties_false_and_combinators() {
        let schema = json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "integer"}}});
        assert_eq!(
            validate(&schema, &json!({"b": 1}), true),
            problem(".b", "no such field (additionalProperties: false)")
        );
        let any_of = json!({"anyOf": [{"type": "integer"}, {"type": "string"}]});
        assert_eq!(validate(&any_of, &json!(1), false), Ok(()));
        assert_eq!(validate(&any_of, &json!("x"), false), Ok(()));
        assert!(validate(&any_of, &json!(true), false).is_err());
        let one_of = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
        assert_eq!(validate(&one_of, &json!(0.5), false), Ok(()));
        assert!(validate(&one_of, &json!(1), false).unwrap_err().1.contains("exactly one oneOf schema (2 match)"));
        let int_or_string = json!({"x-kubernetes-int-or-string": true});
        assert_eq!(validate(&int_or_string, &json!("80%"), false), Ok(()));
        assert!(validate(&int_or_string, &json!(0.5), false).is_err());
    }

    #[test]
    fn bounds_are_checked() {
        let s = json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "s": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
            "l": {"type": "array", "minItems": 1}}});
        assert_eq!(validate(&s, &json!({"n": 5, "s": "abc", "l": [1]}), false), Ok(()));
        assert_eq!(validate(&s, &json!({"n": 0}), false), problem(".n", "a number >= 1, got 0"));
        assert_eq!(validate(&s, &json!({"n": 11}), false), problem(".n", "a number <= 10, got 11"));
        assert_eq!(validate(&s, &json!({"s": "abcd"}), false), problem(".s", "at most 3 characters, got 4"));
        assert_eq!(
            validate(&s, &json!({"s": "AB"}), false),
            problem(".s", "a string matching \"^[a-z]+$\", got \"AB\"")
        );
        assert_eq!(validate(&s, &json!({"l": []}), false), problem(".l", "at least 1 items, got 0"));
    }
}
