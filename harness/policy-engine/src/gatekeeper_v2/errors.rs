//! Typed errors of the engine. Each says which module, parameter or field is at fault, because the
//! callers (webhook status annotations, `harness policy check`) show them to people verbatim.

use serde::Serialize;

/// A module that could not be loaded. Mirrors what OPA reported for a compile error, so the webhook
/// can put it into the `openpolicyagent.org/policy-status` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{id}:{line}:{column}: {message}")]
pub struct ModuleError {
    /// Module id, `<namespace>/<configmap>/<key>`.
    pub id: String,
    /// 1-based line in the module as given (before normalisation; the rewrite keeps line numbers).
    pub line: u32,
    /// 1-based column; 0 when the engine gave no location.
    pub column: u32,
    pub message: String,
}

/// One module whose evaluation failed while the others evaluated fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleFailure {
    pub id: String,
    pub message: String,
}

/// Evaluation could not produce a complete decision.
///
/// Gatekeeper v2 failed open on any evaluation error, and so should a faithful webhook. Because each
/// module is evaluated on its own, a failure in one module does not hide the others' results: they are
/// carried in `violations`, so a caller that prefers to deny on partial results can.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The AdmissionRequest lacks what the query needs (e.g. an empty `resource.resource`).
    #[error("invalid admission request: {0}")]
    InvalidRequest(String),
    /// At least one module failed at evaluation time.
    #[error("policy evaluation failed: {}", failures.iter().map(|f| format!("{}: {}", f.id, f.message)).collect::<Vec<_>>().join("; "))]
    Modules {
        failures: Vec<ModuleFailure>,
        /// Violations from the modules that did evaluate.
        violations: Vec<crate::Violation>,
    },
}

/// A placeholder could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("missing policy parameter `{0}` (placeholder {{{{policyParameters.{0}}}}})")]
    MissingParameter(String),
}

/// An AdmissionReview (or AdmissionRequest) that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("unsupported apiVersion `{0}` (want admission.k8s.io/v1 or v1beta1)")]
    UnsupportedVersion(String),
    #[error("kind must be AdmissionReview, got `{0}`")]
    WrongKind(String),
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
}
