//! Gatekeeper-v2-compatible Rego evaluation for the Azure Policy for AKS (2019 preview) simulation.
//!
//! This crate is what OPA 0.10 + kube-mgmt 0.6 + the Gatekeeper v2 manager did, minus the Kubernetes
//! client: it holds Rego modules by id, a replicated copy of cluster objects, and answers admission and
//! audit queries with the same results the 2019 stack gave. The webhook, the policy agent and the
//! offline `harness policy check` all share it.
//!
//! # API
//!
//! ```no_run
//! use policy_engine::{PolicyEngine, fill_placeholders, admission_review_to_request};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut engine = PolicyEngine::new();
//! let rego = fill_placeholders(policy_engine::builtins::by_file("container-no-privilege.rego").unwrap().source,
//!                              "/subscriptions/s/.../policyAssignments/a1", &Default::default())?;
//! engine.upsert_module("azure-policy/azurepolicy-a1-0123abcd/policy.rego", &rego)?; // Err(ModuleError{id,line,column,message})
//! engine.upsert_object("pods", Some("team"), "web-1", serde_json::json!({"metadata": {"name": "web-1"}}));
//! let review: serde_json::Value = serde_json::from_str("{}")?;
//! let request = admission_review_to_request(&review)?;     // AdmissionReview v1 or v1beta1 → AdmissionRequest
//! let violations = engine.admit(&request)?;                 // Err(EvalError) → fail open
//! let audit = engine.audit()?;                              // every violation over the replicated data
//! let body = policy_engine::audit_response(&audit);         // `/v1/audit` body
//! # Ok(()) }
//! ```
//!
//! * [`PolicyEngine`] is `Clone + Send + Sync`. A clone is a cheap snapshot (reference-counted
//!   modules and data), so a server keeps one writer copy and hands clones to readers.
//! * Modules are Rego **v0**, loaded as written in 2019. At load time they are normalised
//!   ([`normalize`]): builtin calls in output-argument form become assignments, and `re_match` is a
//!   registered extension. `data.k8s.matches` ([`matches`]) is always present.
//! * [`PolicyEngine::set_audit_only`] marks a module audited but not enforced (the policy of an
//!   assignment in `DoNotEnforce` mode): admission skips it, audits evaluate it as usual.
//! * Every module is compiled and evaluated in its own regorus engine. A compile error rejects only
//!   that module ([`ModuleError`] with line and column); an evaluation error in one module is reported
//!   ([`EvalError::Modules`]) together with the other modules' violations. Gatekeeper v2 evaluated all
//!   modules in one query, so the webhook should fail open on any `Err`, which it can, while tests and
//!   tools can still see the rest. The price: modules cannot call each other's helper functions (the
//!   2019 policies never do).
//! * Replicated objects live at `data.kubernetes.<plural>.<namespace>.<name>` (cluster-scoped:
//!   `data.kubernetes.<plural>.<name>`); one upsert or delete touches one path, not the whole tree.
//! * [`fill_placeholders`] escapes values for Rego string literals, an improvement on the add-on's
//!   plain text substitution (see [`placeholders`]).
//! * Speed: evaluating `data.k8s.matches` enumerates every replicated object, so each module is
//!   analysed at load time (`analysis`): a module that reads data only through `matches` of literal
//!   kinds is evaluated over just those kinds. For admission such a module runs a variant whose
//!   `deny` *subjects* are bound to the reviewed object (`subject`: exactly equivalent, since only
//!   results about that object are kept; "other object" lookups still see every object of the
//!   kind, from a `matches` set precomputed per snapshot, `lookups`), through a rule compiled once
//!   instead of a query parsed per request. A lookup of "every other object whose field equals my
//!   value" (the hostname-conflict policy) becomes a bucket lookup in an index built per snapshot
//!   (`joins`), in admissions and audits alike, which makes that policy's audit linear. Modules
//!   whose heads name another kind than the reviewed one are skipped; other modules see the whole
//!   tree, as in Gatekeeper. [`PolicyEngine::admit_reference`] is the literal Gatekeeper query, the yardstick of
//!   `tests/fast_path_equivalence.rs` (with [`PolicyEngine::audit_reference`] for audits).
//!   Audits evaluate modules on all cores, costliest first.
//!   Replicated objects share their strings (`interner`), which cuts the tree's memory by a third.
//! * Concurrency: after writes, call [`PolicyEngine::prepare`] on the writer copy before cloning it
//!   for readers; otherwise the first evaluation on each unprepared clone pays the preparation.
//!   Preparation redoes only modules whose source, or whose kinds' data, changed (`prepared`): a pod
//!   update re-prepares nothing for the built-ins, an ingress update only the hostname index.

pub mod fast_path;
pub mod gatekeeper_v2;
pub mod gatekeeper_v3;
pub mod manifests;
pub mod rego;

// The 2019 modules keep their crate-root paths (`policy_engine::builtins`, ...), which the
// webhook, the agent and the harness use.
pub use gatekeeper_v2::{admission, audit, builtins, matches, normalize, offline, placeholders, workload};

pub use admission::{AdmissionTarget, admission_review_to_request};
pub use gatekeeper_v2::engine::PolicyEngine;
pub use gatekeeper_v2::errors::{EvalError, ModuleError, ModuleFailure, PlaceholderError, ReviewError};
pub use gatekeeper_v2::violation::{ResourceRef, Violation, audit_response};
pub use placeholders::fill_placeholders;
