//! The 2019 preview: Gatekeeper v2 semantics (OPA 0.10, kube-mgmt 0.6). Rego modules by id, the
//! replicated tree `data.kubernetes`, the `deny` admission and audit queries, Azure's placeholders,
//! and `harness policy check` on 2019 Rego.

pub mod admission;
pub mod audit;
pub mod builtins;
pub(crate) mod engine;
pub(crate) mod errors;
pub mod matches;
pub(crate) mod modules;
pub mod normalize;
pub mod offline;
pub mod placeholders;
pub(crate) mod prepared;
pub(crate) mod replicated_data;
pub(crate) mod violation;
pub mod workload;
