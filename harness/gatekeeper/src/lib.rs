//! Gatekeeper v3 as the current Azure Policy add-on installs it (reference
//! `gatekeeper-v3-and-azure-addon.md` §1, §3), run against a real kube-apiserver. A folder per
//! moving part, as Gatekeeper's own tree:
//! * [`crds`]: the `constrainttemplates.templates.gatekeeper.sh` and `configs.config.gatekeeper.sh`
//!   CRDs, written here, and the `<kind>.constraints.gatekeeper.sh` CRD generated per template
//!   (structural, so the API server itself rejects a Constraint whose parameters do not fit).
//! * [`controller`]: the template controller: compiles each ConstraintTemplate, creates its
//!   constraint CRD and reports success or compile errors in the template's status.
//! * [`webhook`]: `validation.gatekeeper.sh`: templates, constraints and synced objects watched into
//!   a [`policy_engine::gatekeeper_v3::PolicyClient`] snapshot; admission answers 403 with
//!   `[<constraint>] <msg>` lines and `warnings` for `warn`, and logs them for `/v1/denials`.
//! * [`audit`]: the periodic and on-demand audit writing each constraint's `status` and the
//!   report of `/v1/audit`.
//! * [`resources`]: Gatekeeper's objects as dynamic kube APIs address them, for this process and
//!   for those that read or write its objects.
//! * [`cli`]: the `gatekeeper` process ([`process_main`]): all of the above in one process, as
//!   AKS runs `gatekeeper-controller-manager` and `gatekeeper-audit`.
//!
//! The engine is `policy_engine::gatekeeper_v3`, the same one `harness policy verify|check` uses.

pub mod audit;
pub mod cli;
pub mod controller;
pub mod crds;
pub mod resources;
pub mod webhook;

pub use cli::process_main;
