//! `--query` (JMESPath, applied client-side as the CLI does) and the `-o json|jsonc|tsv|table|none`
//! formats. JSON is what the CLI printed by default: 2-space indentation with keys sorted
//! (`json.dumps(indent=2, sort_keys=True)`); tsv prints Python's spelling of values (`True`,
//! empty for `None`) because scenarios copy assertions from real terminal output.

use serde_json::{Map, Value};

use super::error::{AzError, AzResult};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Tsv,
    Table,
    None,
}

impl Format {
    /// Parses `-o`; `jsonc` and `yaml` fall back to JSON (colour and YAML are not simulated).
    pub fn parse(command: &str, value: Option<&str>) -> AzResult<Format> {
        match value.unwrap_or("json") {
            "json" | "jsonc" => Ok(Format::Json),
            "tsv" => Ok(Format::Tsv),
            "table" => Ok(Format::Table),
            "none" => Ok(Format::None),
            other => Err(AzError::usage(
                command,
                format!(
                    "argument --output/-o: invalid choice: '{other}' (choose from 'json', 'jsonc', 'table', 'tsv', 'none')"
                ),
            )),
        }
    }
}

/// Applies a JMESPath expression the way `--query` does.
pub fn query(command: &str, expression: &str, value: &Value) -> AzResult<Value> {
    let invalid = || AzError::usage(command, format!("argument --query: invalid jmespath_type value: '{expression}'"));
    let compiled = jmespath::compile(expression).map_err(|_| invalid())?;
    let data = jmespath::Variable::try_from(value.clone()).map_err(|e| AzError::cli(e.to_string()))?;
    let result = compiled.search(data).map_err(|e| AzError::cli(format!("query failed: {e}")))?;
    serde_json::to_value(&*result).map_err(|e| AzError::cli(e.to_string()))
}

/// The track-1 SDK models the 2019 CLI printed were flattened (`x-ms-client-flatten`): a managed
/// cluster's or a policy's `properties` appear at the top level, which is why the documented
/// queries read `addonProfiles.azurepolicy.enabled` and `metadata.category`. Applies to an object
/// or to each item of a list.
pub fn flatten_properties(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(flatten_properties).collect()),
        Value::Object(mut map) => {
            if let Some(Value::Object(properties)) = map.remove("properties") {
                for (k, v) in properties {
                    map.entry(k).or_insert(v);
                }
            }
            Value::Object(map)
        }
        other => other,
    }
}

/// Adds `resourceGroup` (parsed from `id`) to every object that has an ARM id inside a resource
/// group, as the CLI did for all output.
pub fn add_resource_group(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(add_resource_group),
        Value::Object(map) => {
            let has = map.keys().any(|k| k.eq_ignore_ascii_case("resourceGroup"));
            let group = map.get("id").and_then(Value::as_str).and_then(|id| {
                let segs: Vec<&str> = id.split('/').collect();
                let i = segs.iter().position(|s| s.eq_ignore_ascii_case("resourceGroups"))?;
                segs.get(i + 1).map(|s| s.to_string())
            });
            if let (false, Some(g)) = (has, group) {
                map.insert("resourceGroup".into(), Value::String(g));
            }
            map.values_mut().for_each(add_resource_group);
        }
        _ => {}
    }
}

/// Renders a result; `None` and JSON `null` print nothing, as in the CLI.
pub fn render(format: Format, value: &Value) -> String {
    if value.is_null() {
        return String::new();
    }
    match format {
        Format::Json => json(value),
        Format::Tsv => tsv(value),
        Format::Table => table(value),
        Format::None => String::new(),
    }
}

/// Pretty JSON, keys sorted, trailing newline.
pub fn json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

/// A copy with every object's keys in sorted order (independent of serde_json's map feature).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A scalar as Python's `str()` printed it; `None` for objects and arrays (tsv/table skip them).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// The scalar cells of one row: an object's scalar values in key order, or the value itself.
fn cells(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter().filter_map(|k| scalar(&map[k])).collect()
        }
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn rows(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn tsv(value: &Value) -> String {
    rows(value).into_iter().map(|row| format!("{}\n", cells(row).join("\t"))).collect()
}

/// A simple table: the scalar fields of the rows as columns, a dashed rule under the headers.
fn table(value: &Value) -> String {
    let rows = rows(value);
    let mut headers: Vec<String> = Vec::new();
    for row in &rows {
        if let Value::Object(map) = row {
            for (k, v) in map {
                if scalar(v).is_some() && !headers.contains(k) {
                    headers.push(k.clone());
                }
            }
        }
    }
    let grid: Vec<Vec<String>> = if headers.is_empty() {
        headers.push("Result".into());
        rows.iter().map(|r| vec![cells(r).join("  ")]).collect()
    } else {
        rows.iter().map(|r| headers.iter().map(|h| r.get(h).and_then(scalar).unwrap_or_default()).collect()).collect()
    };
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| grid.iter().map(|r| r[i].chars().count()).chain([h.chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&headers);
    out.push_str(&line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()));
    for row in &grid {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_sorted_and_indented() {
        assert_eq!(json(&json!({"b": 1, "a": [true]})), "{\n  \"a\": [\n    true\n  ],\n  \"b\": 1\n}\n");
    }

    #[test]
    fn tsv_uses_python_spelling() {
        assert_eq!(render(Format::Tsv, &json!(true)), "True\n");
        assert_eq!(render(Format::Tsv, &json!([{"Name": "a", "State": "Pending"}])), "a\tPending\n");
    }

    #[test]
    fn table_has_headers_and_rule() {
        let t = render(
            Format::Table,
            &json!([{"Name": "Microsoft.ContainerService/AKS-AzurePolicyAutoApprove", "State": "Registered"}]),
        );
        assert!(t.starts_with("Name"), "{t}");
        assert!(t.lines().nth(1).unwrap().starts_with("-----"), "{t}");
        assert!(t.contains("Registered"));
    }

    #[test]
    fn flattens_and_adds_resource_group() {
        let mut v = flatten_properties(
            json!({"id": "/subscriptions/s/resourcegroups/rg1/providers/X/y/z", "properties": {"a": 1}}),
        );
        add_resource_group(&mut v);
        assert_eq!(
            v,
            json!({"id": "/subscriptions/s/resourcegroups/rg1/providers/X/y/z", "a": 1, "resourceGroup": "rg1"})
        );
    }

    #[test]
    fn query_filters_like_jmespath() {
        let v = json!([{"name": "a", "properties": {"state": "Registered"}}, {"name": "b", "properties": {"state": "Pending"}}]);
        assert_eq!(query("x", "[?properties.state=='Pending'].name", &v).unwrap(), json!(["b"]));
        assert_eq!(query("x", "[", &v).unwrap_err().exit_code(), 2);
    }
}
