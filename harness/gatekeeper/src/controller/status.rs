//! A ConstraintTemplate's `status` (reference §1.1): `created`, and one `byPod` entry for this
//! controller with the generation it saw and the errors that stopped it. Compile errors are the
//! engine's own [`GatekeeperError`] messages, which name the template, the module and the line.

use policy_engine::gatekeeper_v3::GatekeeperError;
use serde::{Deserialize, Serialize};

/// The `byPod[].id` this controller writes (the add-on's Gatekeeper runs one controller-manager).
pub const POD_ID: &str = "gatekeeper-controller-manager-0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TemplateStatus {
    #[serde(default)]
    pub created: bool,
    #[serde(rename = "byPod", default)]
    pub by_pod: Vec<PodStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodStatus {
    pub id: String,
    #[serde(rename = "observedGeneration", default)]
    pub observed_generation: i64,
    #[serde(default)]
    pub errors: Vec<StatusError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
}

/// Error codes, as Gatekeeper names them.
pub mod code {
    /// A Rego module does not parse or compile.
    pub const REGO_PARSE: &str = "rego_parse_error";
    /// The template cannot be read (fields, names, targets).
    pub const INGEST: &str = "ingest_error";
    /// The API server refused the generated constraint CRD.
    pub const CREATE: &str = "create_error";
}

impl TemplateStatus {
    pub fn created(generation: i64) -> Self {
        Self::with(true, generation, vec![])
    }

    pub fn failed(generation: i64, errors: Vec<StatusError>) -> Self {
        Self::with(false, generation, errors)
    }

    fn with(created: bool, generation: i64, errors: Vec<StatusError>) -> Self {
        TemplateStatus {
            created,
            by_pod: vec![PodStatus { id: POD_ID.into(), observed_generation: generation, errors }],
        }
    }
}

impl StatusError {
    pub fn new(code: &str, message: impl Into<String>, location: impl Into<String>) -> Self {
        StatusError { code: code.into(), message: message.into(), location: location.into() }
    }

    /// A template that did not read or compile. The location is the module field, with the line
    /// and column when the engine gave them (`spec.targets[0].rego:12:5`).
    pub fn from_engine(error: &GatekeeperError) -> Self {
        match error {
            GatekeeperError::Rego { module, message, .. } => {
                let location = match line_column(message) {
                    Some((line, column)) => format!("{module}:{line}:{column}"),
                    None => module.clone(),
                };
                Self::new(code::REGO_PARSE, error.to_string(), location)
            }
            GatekeeperError::Invalid { field, .. } => Self::new(code::INGEST, error.to_string(), field.clone()),
            other => Self::new(code::INGEST, other.to_string(), ""),
        }
    }
}

/// `line 12, column 5: ...` at the start of an engine message.
fn line_column(message: &str) -> Option<(u32, u32)> {
    let rest = message.strip_prefix("line ")?;
    let (line, rest) = rest.split_once(", column ")?;
    let (column, _) = rest.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rego_errors_are_located_at_module_line_and_column() {
        let error = GatekeeperError::Rego {
            file: "ConstraintTemplate/t".into(),
            template: "t".into(),
            module: "spec.targets[0].rego".into(),
            message: "line 4, column 9: unexpected token".into(),
        };
        let status = StatusError::from_engine(&error);
        assert_eq!(status.code, code::REGO_PARSE);
        assert_eq!(status.location, "spec.targets[0].rego:4:9");
        assert!(status.message.contains("rego spec.targets[0].rego: line 4, column 9: unexpected token"));
    }

    #[test]
    fn status_serializes_as_gatekeeper_writes_it() {
        let json = serde_json::to_value(TemplateStatus::created(3)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"created": true, "byPod": [{"id": POD_ID, "observedGeneration": 3, "errors": []}]})
        );
    }
}
