//! The HTTPS server of the gatekeeper process and the watchers and audit behind it.
//!
//! | Route | |
//! |---|---|
//! | `POST /v1/admit` | AdmissionReview v1/v1beta1 → AdmissionReview ([`super::admission`]) |
//! | `GET /healthz` | the process serves |
//! | `GET /readyz`, `GET /v1/audit`, `POST /v1/audit/run`, `GET /v1/denials` | [`super::read_api`] |
//!
//! TLS (rustls with ring) and the listener are the 2019 webhook's ([`policy_webhook::server`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum_server::Handle;
use contracts::gatekeeper::{AUDIT_PATH, AUDIT_RUN_PATH, DENIALS_PATH, STATUS_PATH};
use policy_engine::gatekeeper_v3::PolicyClient;
use policy_webhook::server::TlsSource;
use policy_webhook::{DEFAULT_MAX_BODY_BYTES, WebhookError};
use tokio::task::JoinHandle;

use super::denial_log::{DEFAULT_DENIALS_CAPACITY, DenialLog};
use super::readiness::Readiness;
use super::shared_policy::SharedPolicy;
use super::{policy_cache, read_api, sync};
use crate::audit::{Audit, AuditOptions};

/// What the handlers share.
#[derive(Debug)]
pub struct WebhookState {
    pub policy: Arc<SharedPolicy>,
    pub max_body_bytes: usize,
    pub denials: Arc<DenialLog>,
    pub readiness: Arc<Readiness>,
    pub audit: Arc<Audit>,
    /// The bearer token of the read routes; `None` leaves them open.
    pub read_token: Option<String>,
}

impl WebhookState {
    /// A fixed policy, no API server: ready at once, never audits, reads open.
    pub fn without_api_server(policy: PolicyClient) -> Self {
        Self {
            policy: Arc::new(SharedPolicy::new(policy)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            denials: Arc::new(DenialLog::default()),
            readiness: Arc::new(Readiness::ready()),
            audit: Arc::new(Audit::without_api_server()),
            read_token: None,
        }
    }
}

/// How to run the webhook.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Listen address; port 0 picks a free port ([`RunningWebhook::addr`]).
    pub listen: SocketAddr,
    pub tls: TlsSource,
    /// Largest AdmissionReview accepted; a larger one is HTTP 400.
    pub max_body_bytes: usize,
    /// How many `deny`/`warn` results `/v1/denials` keeps.
    pub denials_capacity: usize,
    /// The read routes' bearer token. Without one they are open on a loopback listener and get a
    /// generated token on any other ([`RunningWebhook::read_token`]), as `contracts::credential` says.
    pub read_token: Option<String>,
    pub audit: AuditOptions,
}

impl WebhookOptions {
    /// Loopback on a free port, the API server's own 3 MiB request limit, Gatekeeper's audit
    /// defaults.
    pub fn new(tls: TlsSource) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            denials_capacity: DEFAULT_DENIALS_CAPACITY,
            read_token: None,
            audit: AuditOptions::default(),
        }
    }
}

/// The routes over `state`.
pub fn router(state: Arc<WebhookState>) -> Router {
    let reads = Router::new()
        .route(AUDIT_PATH, get(read_api::last_audit))
        .route(AUDIT_RUN_PATH, post(read_api::run_audit))
        .route(DENIALS_PATH, get(read_api::denials))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), read_api::require_read_token));
    Router::new()
        .route("/v1/admit", post(super::admission::admit))
        .merge(reads)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(read_api::readyz))
        .route(STATUS_PATH, get(read_api::status))
        // `/v1/admit` enforces its own limit with a 400 and a reason; axum's default would answer 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// A webhook serving in this process. Dropping it does not stop it; call [`Self::shutdown`].
#[derive(Debug)]
pub struct RunningWebhook {
    addr: SocketAddr,
    state: Arc<WebhookState>,
    handle: Handle<SocketAddr>,
    server: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

/// Starts serving. With a `client`, templates, constraints and synced kinds are watched into the
/// policy on top of `initial`, and the audit runs every `options.audit.interval`; without one
/// (tests without an API server) `initial` is served as is and nothing is audited.
pub async fn start(
    options: WebhookOptions,
    client: Option<kube::Client>,
    initial: PolicyClient,
) -> Result<RunningWebhook, WebhookError> {
    let policy = Arc::new(SharedPolicy::new(initial));
    let read_token = options
        .read_token
        .clone()
        .or_else(|| contracts::credential::required_for(options.listen.ip()).then(pki::random_token));
    let mut background = Vec::new();
    let (readiness, audit) = match client {
        Some(client) => {
            let readiness = Arc::new(Readiness::default());
            let limit = options.audit.violations_limit;
            let audit = Arc::new(Audit::new(client.clone(), policy.clone(), readiness.clone(), limit));
            background.push(tokio::spawn(policy_cache::run(client.clone(), policy.clone(), readiness.clone())));
            background.push(tokio::spawn(sync::run(client, policy.clone(), readiness.clone())));
            background.push(tokio::spawn(audit.clone().run_every(options.audit.interval)));
            (readiness, audit)
        }
        None => (Arc::new(Readiness::ready()), Arc::new(Audit::without_api_server())),
    };
    let state = Arc::new(WebhookState {
        policy,
        max_body_bytes: options.max_body_bytes,
        denials: Arc::new(DenialLog::new(options.denials_capacity)),
        readiness,
        audit,
        read_token,
    });
    let handle = Handle::new();
    let served =
        policy_webhook::server::serve(options.listen, &options.tls, router(state.clone()), handle.clone()).await;
    let (addr, server) = match served {
        Ok(bound) => bound,
        Err(e) => {
            background.iter().for_each(JoinHandle::abort);
            return Err(e);
        }
    };
    tracing::info!(%addr, "validation.gatekeeper.sh listening");
    Ok(RunningWebhook { addr, state, handle, server, background })
}

impl RunningWebhook {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `https://<addr>/v1/admit`.
    pub fn admit_url(&self) -> String {
        format!("{}/v1/admit", self.base_url())
    }

    /// The policy the webhook serves (its current snapshot and the writer behind it).
    pub fn policy(&self) -> &Arc<SharedPolicy> {
        &self.state.policy
    }

    /// The audit: its last report, and [`Audit::run`] to run one now.
    pub fn audit(&self) -> &Arc<Audit> {
        &self.state.audit
    }

    pub fn denials(&self) -> &Arc<DenialLog> {
        &self.state.denials
    }

    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.state.readiness
    }

    /// The read routes' token: the configured one, or the generated one of a non-loopback listener.
    pub fn read_token(&self) -> Option<&str> {
        self.state.read_token.as_deref()
    }

    /// Stops serving (open connections get a second to finish), the watchers and the audit.
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        for task in &self.background {
            task.abort();
        }
        let _ = self.server.await;
    }
}
