//! The current add-on's engine: Gatekeeper v3 semantics (frameworks' Rego driver, as shipped with
//! Gatekeeper 3.19 / OPA v1.3), offline. ConstraintTemplates are compiled one regorus engine each,
//! Constraints select objects with `spec.match` and carry parameters, and a [`PolicyClient`] reviews
//! objects (admission, audit, gator-style) against them, with `data.inventory` for referential
//! templates. Facts: `shared/reference/gatekeeper-v3-and-azure-addon.md` §1–2.
//!
//! The data path, one file per step:
//! * [`constraint_template`]: read a ConstraintTemplate (v1, v1beta1, v1alpha1) and pick its Rego;
//!   [`compiled_template`] compiles it, one regorus engine per template ([`rego_compat`] first
//!   rewrites the constructs regorus reads differently from OPA, `docs/regorus-divergences/`).
//! * [`constraint`]: read a Constraint; [`parameters_schema`] checks `spec.parameters` against the
//!   template's openAPIV3Schema; [`constraint_match`] is `spec.match` ([`label_selector`] its selectors).
//! * [`review`]: the `input.review` of an admission request or of a bare object (audit, gator).
//! * [`inventory`]: the synced objects at `data.inventory`.
//! * [`evaluation`]: [`PolicyClient`], templates and constraints by kind, reviews and audits;
//!   [`memo`] reuses a constraint's results for reviews that look the same to its template.
//! * [`suite`]: `harness policy verify`, gator's Suite format.
//!   (`suite_cases.rs` runs the cases.)
//! * [`azure_definition`]: a `Microsoft.Kubernetes.Data` definition to a Constraint, as the add-on builds it.
//! * [`azure_parameters`]: its ARM parameters and `[parameters('x')]` expressions, checked and resolved.
//! * [`check`]: `harness policy check --template/--constraint/--definition`.

pub mod azure_definition;
pub mod azure_parameters;
pub mod check;
pub mod compiled_template;
pub mod constraint;
pub mod constraint_match;
pub mod constraint_template;
mod errors;
pub mod evaluation;
pub mod inventory;
pub mod label_selector;
pub mod memo;
pub mod parameters_schema;
pub mod rego_compat;
pub mod review;
pub mod suite;
mod suite_cases;

use serde::Serialize;

pub use constraint::{Constraint, EnforcementAction};
pub use constraint_template::ConstraintTemplate;
pub use errors::GatekeeperError;
pub use evaluation::PolicyClient;
pub use inventory::Inventory;
pub use review::Review;

/// One result of `data.template.violation` for one constraint, as frameworks returns it:
/// `{constraint, kind, enforcementAction, msg, details}` plus the object it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// The constraint's `metadata.name`.
    pub constraint: String,
    /// The constraint's kind (= the template's `spec.crd.spec.names.kind`).
    pub kind: String,
    /// The action the constraint asks for at this enforcement point (`deny`, `dryrun`, `warn`).
    #[serde(rename = "enforcementAction")]
    pub enforcement_action: String,
    pub msg: String,
    /// `details` of the result; `{}` when the rule gave none.
    pub details: serde_json::Value,
    /// The reviewed object: group, version, kind, namespace and name.
    pub resource: ObjectRef,
}

/// Which object a review or a violation is about (an audit's `violations[]` entry shape).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct ObjectRef {
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// Gatekeeper's enforcement points (`scopedEnforcementActions[].enforcementPoints[].name`).
pub mod enforcement_point {
    pub const WEBHOOK: &str = "validation.gatekeeper.sh";
    pub const AUDIT: &str = "audit.gatekeeper.sh";
    pub const GATOR: &str = "gator.gatekeeper.sh";
}
