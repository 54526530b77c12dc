//! Typed errors of the Gatekeeper v3 engine. Every error names the file (or object), the field and
//! what was expected, because `harness policy verify/check` and the add-on's status show them verbatim.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GatekeeperError {
    /// A field of a ConstraintTemplate, Constraint, Suite or definition is missing or malformed.
    /// `file` is the file path, or `<kind>/<name>` for objects without a file.
    #[error("{file}: {field}: {expected}")]
    Invalid { file: String, field: String, expected: String },
    /// A Rego module of a template does not parse or compile (both as v1 and as v0).
    #[error("{file}: template {template}: rego {module}: {message}")]
    Rego { file: String, template: String, module: String, message: String },
    /// Reading a file failed.
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    /// A constraint names a kind no loaded template defines.
    #[error("{file}: constraint {constraint}: no template defines kind {kind}")]
    UnknownKind { file: String, constraint: String, kind: String },
    /// `spec.parameters` does not fit the template's openAPIV3Schema.
    #[error("{file}: constraint {constraint}: spec.parameters{path}: {expected}")]
    Parameters { file: String, constraint: String, path: String, expected: String },
    /// The match needs an object that is not there (a namespaceSelector without the Namespace).
    #[error("constraint {constraint}: {message}")]
    Match { constraint: String, message: String },
    /// Evaluating a template failed (OPA: an eval conflict, a non-builtin error).
    #[error("template {template}, constraint {constraint}: evaluation failed: {message}")]
    Eval { template: String, constraint: String, message: String },
    /// A `Microsoft.Kubernetes.Data` definition (or its parameters) is rejected with the code Azure
    /// gives (`InvalidPolicyRuleEffectDetails`, `MissingPolicyParameter`, ...), so a user can match
    /// it with what the portal or `az` would say.
    #[error("{file}: {code}: {message}")]
    AzureDefinition { file: String, code: String, message: String },
}

impl GatekeeperError {
    pub fn invalid(file: impl Into<String>, field: impl Into<String>, expected: impl Into<String>) -> Self {
        GatekeeperError::Invalid { file: file.into(), field: field.into(), expected: expected.into() }
    }
}
