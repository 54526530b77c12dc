//! `policy-webhook`: the Gatekeeper v2 manager, OPA and kube-mgmt of the 2019 Azure Policy add-on
//! for AKS, in one Rust process.
//!
//! * [`server`]: HTTPS (rustls, ring) with `/v1/admit`, `/v1/audit`, `/v1/denials`, `/v1/status`,
//!   `/healthz`, `/readyz`, `/metrics` (docs/contracts.md §5).
//! * [`admission`]: AdmissionReview v1/v1beta1 in, decision out; deny lists every violation message,
//!   evaluation errors fail open, malformed or oversized bodies are HTTP 400.
//! * [`policy_loader`]: kube-mgmt's ConfigMap → module loading with the
//!   `openpolicyagent.org/policy-status` annotation.
//! * [`replication`]: kube-mgmt's `--replicate` watchers feeding `data.kubernetes`.
//! * [`registration`]: the MutatingWebhookConfiguration (or, on request, a validating one), and
//!   proof that it is in force.
//! * [`denials`], [`metrics`], [`audit`].
//!
//! # Using it from the harness
//!
//! In-process (tests, benchmarks):
//! ```no_run
//! # async fn demo(client: kube::Client, ca_pem: String, cert: String, key: String) -> anyhow::Result<()> {
//! use policy_webhook::{Registration, TlsSource, WebhookOptions};
//! let running = policy_webhook::start(
//!     WebhookOptions::new(TlsSource::Pem { cert, key }),
//!     Some(client.clone()),
//!     policy_engine::PolicyEngine::new(),
//! ).await?;
//! running.wait_ready(std::time::Duration::from_secs(30)).await?;
//! let registration = Registration::new(running.admit_url(), ca_pem);
//! policy_webhook::registration::register_and_wait(&client, &registration, std::time::Duration::from_secs(30)).await?;
//! // ...
//! policy_webhook::registration::unregister(&client, &registration.name).await?;
//! running.shutdown().await;
//! # Ok(()) }
//! ```
//! As a process: `policy-webhook serve --tls-cert-file .. --tls-key-file .. --addr-file ..`, then
//! `policy-webhook register --url https://<addr>/v1/admit --ca-file ..` (or the library call above).

pub mod admission;
pub mod audit;
pub mod cli;
pub mod denials;
mod error;
pub mod metrics;
pub mod policy_loader;
pub mod registration;
pub mod replication;
pub mod server;
pub mod shared_engine;
pub mod state;
mod webhook;

pub use error::WebhookError;
pub use registration::{FailurePolicy, Registration, RegistrationError, WebhookKind};
pub use server::TlsSource;
pub use webhook::{DEFAULT_DENIALS_CAPACITY, DEFAULT_MAX_BODY_BYTES, RunningWebhook, WebhookOptions, start};
