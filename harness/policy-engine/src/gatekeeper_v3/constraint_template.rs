//! A ConstraintTemplate as Gatekeeper reads it (reference §1.1): the CRD names and parameter schema,
//! and which Rego to run, by Gatekeeper's precedence. Compiling is [`super::compiled_template`].

use std::path::Path;

use serde_json::Value;

use super::GatekeeperError;

/// The one target Gatekeeper's admission and audit evaluate.
pub const ADMISSION_TARGET: &str = "admission.k8s.gatekeeper.sh";

const API_GROUP: &str = "templates.gatekeeper.sh/";

#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintTemplate {
    /// `templates.gatekeeper.sh/v1`, `/v1beta1` or `/v1alpha1`.
    pub api_version: String,
    pub name: String,
    /// `spec.crd.spec.names.kind`.
    pub kind: String,
    /// `spec.crd.spec.validation.openAPIV3Schema`, if any.
    pub schema: Option<Value>,
    /// `legacySchema` (default false in v1, true in v1beta1/v1alpha1).
    pub legacy_schema: bool,
    /// The entry module, chosen by Gatekeeper's precedence.
    pub rego: String,
    /// `libs[]` modules (packages under `lib.`).
    pub libs: Vec<String>,
    /// Things the reader ignored on purpose (a CEL entry in `code[]`), to tell the user.
    pub notes: Vec<String>,
    pub source: String,
    pub raw: Value,
    /// Where [`Self::rego`] was read (`spec.targets[0].rego` or `spec.targets[0].code[1].source.rego`);
    /// compile errors name it, and the libs are `<field of their list>[i]`.
    pub rego_field: String,
    /// The field holding [`Self::libs`] (`spec.targets[0].libs` or `...code[i].source.libs`).
    pub libs_field: String,
    /// `code[].source.version: "v1"`: the modules are Rego v1 only; otherwise each is read as v1,
    /// then as v0, as frameworks does.
    pub rego_v1_only: bool,
}

/// The Rego chosen for a target: entry module, libs and where they came from.
struct RegoSource {
    rego: String,
    rego_field: String,
    libs: Vec<String>,
    libs_field: String,
    v1_only: bool,
}

impl ConstraintTemplate {
    /// Read one ConstraintTemplate object. `source` (a file path, or `ConstraintTemplate/<name>`)
    /// names it in errors, with the field and what was expected.
    pub fn from_value(value: &Value, source: &str) -> Result<ConstraintTemplate, GatekeeperError> {
        let invalid = |field: &str, expected: &str| GatekeeperError::invalid(source, field, expected);
        let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let legacy_default = match api_version.strip_prefix(API_GROUP) {
            Some("v1") => false,
            Some("v1beta1" | "v1alpha1") => true,
            _ => {
                return Err(invalid(
                    "apiVersion",
                    &format!(
                        "templates.gatekeeper.sh/v1, v1beta1 or v1alpha1 (found {})",
                        shown(value.get("apiVersion"))
                    ),
                ));
            }
        };
        if value.get("kind").and_then(Value::as_str) != Some("ConstraintTemplate") {
            return Err(invalid("kind", &format!("ConstraintTemplate (found {})", shown(value.get("kind")))));
        }
        let name = text(value, "/metadata/name").ok_or_else(|| invalid("metadata.name", "a non-empty string"))?;
        let crd = value.pointer("/spec/crd/spec");
        let kind = crd
            .and_then(|c| c.pointer("/names/kind"))
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| invalid("spec.crd.spec.names.kind", "a non-empty string (the Constraint kind)"))?;
        // frameworks compares with EqualFold (case-insensitively).
        if !name.eq_ignore_ascii_case(kind) {
            return Err(invalid(
                "metadata.name",
                &format!("the ConstraintTemplate's name {name:?} is not equal to the lowercase of CRD's Kind {kind:?}"),
            ));
        }
        let validation = crd.and_then(|c| c.get("validation"));
        let schema = validation.and_then(|v| v.get("openAPIV3Schema")).filter(|s| !s.is_null()).cloned();
        if schema.as_ref().is_some_and(|s| !s.is_object()) {
            return Err(invalid("spec.crd.spec.validation.openAPIV3Schema", "an object (an OpenAPI v3 schema)"));
        }
        let legacy_schema = match validation.and_then(|v| v.get("legacySchema")) {
            None | Some(Value::Null) => legacy_default,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("spec.crd.spec.validation.legacySchema", "a boolean")),
        };
        let mut notes = Vec::new();
        let chosen = choose_rego(value, source, &mut notes)?;
        Ok(ConstraintTemplate {
            api_version: api_version.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            schema,
            legacy_schema,
            rego: chosen.rego,
            libs: chosen.libs,
            notes,
            source: source.to_string(),
            raw: value.clone(),
            rego_field: chosen.rego_field,
            libs_field: chosen.libs_field,
            rego_v1_only: chosen.v1_only,
        })
    }

    /// One ConstraintTemplate from a YAML or JSON file.
    pub fn from_file(path: &Path) -> Result<ConstraintTemplate, GatekeeperError> {
        let source = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|error| GatekeeperError::Read { path: path.to_path_buf(), error })?;
        let value: Value = serde_yaml::from_str(&text)
            .map_err(|e| GatekeeperError::invalid(&source, "(document)", format!("one YAML or JSON object: {e}")))?;
        ConstraintTemplate::from_value(&value, &source)
    }
}

/// The Rego of the admission target: `targets[].rego` first, else the `code[]` entry with engine
/// `Rego`. A CEL (`K8sNativeValidation`) entry is noted and skipped: this engine runs Rego only.
fn choose_rego(value: &Value, source: &str, notes: &mut Vec<String>) -> Result<RegoSource, GatekeeperError> {
    let invalid = |field: &str, expected: &str| GatekeeperError::invalid(source, field, expected);
    let targets = value
        .pointer("/spec/targets")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("spec.targets", &format!("a list with one target {ADMISSION_TARGET}")))?;
    if targets.len() > 1 {
        return Err(invalid("spec.targets", &format!("exactly one target (found {})", targets.len())));
    }
    let target = &targets[0];
    if target.get("target").and_then(Value::as_str) != Some(ADMISSION_TARGET) {
        return Err(invalid(
            "spec.targets[0].target",
            &format!("{ADMISSION_TARGET} (found {})", shown(target.get("target"))),
        ));
    }
    let code = match target.get("code") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(code)) => code.as_slice(),
        Some(_) => return Err(invalid("spec.targets[0].code", "a list of {engine, source}")),
    };
    for (i, entry) in code.iter().enumerate() {
        if entry.get("engine").and_then(Value::as_str) == Some("K8sNativeValidation") {
            notes.push(format!(
                "spec.targets[0].code[{i}]: the K8sNativeValidation (CEL) entry is ignored; this engine evaluates Rego only"
            ));
        }
    }
    if let Some(rego) = target.get("rego").filter(|r| !r.is_null()) {
        let rego = rego
            .as_str()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| invalid("spec.targets[0].rego", "a non-empty string (a Rego module)"))?;
        return Ok(RegoSource {
            rego: rego.to_string(),
            rego_field: "spec.targets[0].rego".into(),
            libs: strings(target.get("libs"), source, "spec.targets[0].libs")?,
            libs_field: "spec.targets[0].libs".into(),
            v1_only: false,
        });
    }
    let Some((i, entry)) =
        code.iter().enumerate().find(|(_, e)| e.get("engine").and_then(Value::as_str) == Some("Rego"))
    else {
        return Err(invalid(
            "spec.targets[0]",
            "Rego: a `rego` module, or a `code[]` entry with engine Rego and source.rego",
        ));
    };
    let field = format!("spec.targets[0].code[{i}].source");
    let src = entry.get("source");
    let rego = src
        .and_then(|s| s.get("rego"))
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| invalid(&format!("{field}.rego"), "a non-empty string (a Rego module)"))?;
    let v1_only = match src.and_then(|s| s.get("version")) {
        None | Some(Value::Null) => false,
        Some(Value::String(v)) if v == "v1" => true,
        Some(Value::String(v)) if v == "v0" => false,
        Some(other) => return Err(invalid(&format!("{field}.version"), &format!("\"v0\" or \"v1\" (found {other})"))),
    };
    Ok(RegoSource {
        rego: rego.to_string(),
        rego_field: format!("{field}.rego"),
        libs: strings(src.and_then(|s| s.get("libs")), source, &format!("{field}.libs"))?,
        libs_field: format!("{field}.libs"),
        v1_only,
    })
}

/// A list of strings (absent or null: empty).
fn strings(value: Option<&Value>, source: &str, field: &str) -> Result<Vec<String>, GatekeeperError> {
    match value {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    GatekeeperError::invalid(source, format!("{field}[{i}]"), "a string (a Rego module)")
                })
            })
            .collect(),
        Some(_) => Err(GatekeeperError::invalid(source, field, "a list of Rego modules (strings)")),
    }
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A found value for an error message (`nothing` when absent).
fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_string(), Value::to_string)
}
