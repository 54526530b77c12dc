//! `validation.gatekeeper.sh`, Gatekeeper v3's validating admission webhook (reference §1.5–§1.8),
//! served by this process against a real API server.
//!
//! One file per job:
//! * [`admission`]: `POST /v1/admit`: AdmissionReview v1/v1beta1 in, Gatekeeper's answer out
//!   (403 with `[<constraint>] <msg>` lines, `warnings` for `warn`, HTTP 500 on an engine error).
//! * [`shared_policy`]: the published [`policy_engine::gatekeeper_v3::PolicyClient`] snapshot and
//!   the writer state behind it.
//! * [`policy_cache`]: ConstraintTemplates and the constraints of every kind they define, watched
//!   into that state.
//! * [`sync`]: the `Config` `config`'s `spec.sync.syncOnly` kinds, watched into `data.inventory`.
//! * [`watch`]: the watch loop and relist bookkeeping the watchers share.
//! * [`denial_log`]: the `deny`/`warn` results of admission, for `GET /v1/denials`.
//! * [`readiness`]: whether the policy reflects the cluster yet (`GET /readyz`).
//! * [`read_api`]: `/readyz`, `/v1/audit`, `/v1/audit/run`, `/v1/denials` and their read token.
//! * [`server`]: the HTTPS server and [`start`]; [`registration`]: the
//!   ValidatingWebhookConfiguration as Gatekeeper registers it.

pub mod admission;
pub mod denial_log;
pub mod policy_cache;
pub mod read_api;
pub mod readiness;
pub mod registration;
pub mod server;
pub mod shared_policy;
pub mod sync;
pub mod watch;

pub use server::{RunningWebhook, WebhookOptions, start};
pub use shared_policy::SharedPolicy;

/// The namespace Gatekeeper runs in (and where its `Config` lives).
pub const GATEKEEPER_NAMESPACE: &str = "gatekeeper-system";

/// Gatekeeper's own service account. Its requests are allowed unreviewed (reference §1.5), so
/// Gatekeeper can always manage its own objects whatever the constraints say.
pub const GATEKEEPER_ADMIN: &str = "system:serviceaccount:gatekeeper-system:gatekeeper-admin";
