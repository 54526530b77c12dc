//! Gatekeeper's CRDs, written here from the reference's field lists (§1.1, §1.3):
//! * [`template_crd`]: `constrainttemplates.templates.gatekeeper.sh`, installed once.
//! * [`config_crd`](mod@config_crd): `configs.config.gatekeeper.sh`, the sync configuration, installed once.
//! * [`constraint_crd`](mod@constraint_crd): the `<kind>.constraints.gatekeeper.sh` CRD generated per template
//!   ([`parameters`] turns the template's schema into `spec.parameters`; [`schema`] has the builders).
//! * [`apply`]: server-side apply of a CRD and the wait until the API server serves it.

pub mod apply;
pub mod config_crd;
pub mod constraint_crd;
pub mod parameters;
pub mod schema;
pub mod template_crd;

pub use apply::{CrdError, apply_crd, install_crds, wait_established};
pub use config_crd::config_crd;
pub use constraint_crd::{CATEGORIES, CONSTRAINT_LABEL, ConstraintCrdError, constraint_crd, constraint_crd_name};
pub use template_crd::constraint_template_crd;
