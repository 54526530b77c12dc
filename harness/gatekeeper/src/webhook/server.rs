//! The HTTPS server of `validation.gatekeeper.sh` and the watchers behind it, in one process.
//!
//! | Route | |
//! |---|---|
//! | `POST /v1/admit` | AdmissionReview v1/v1beta1 → AdmissionReview ([`super::admission`]) |
//! | `GET /healthz` | the process serves |
//!
//! TLS (rustls with ring) and the listener are the 2019 webhook's ([`policy_webhook::server`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum_server::Handle;
use policy_engine::gatekeeper_v3::PolicyClient;
use policy_webhook::server::TlsSource;
use policy_webhook::{DEFAULT_MAX_BODY_BYTES, WebhookError};
use tokio::task::JoinHandle;

use super::shared_policy::SharedPolicy;
use super::{policy_cache, sync};

/// What the handlers share.
#[derive(Debug)]
pub struct WebhookState {
    pub policy: Arc<SharedPolicy>,
    pub max_body_bytes: usize,
}

/// How to run the webhook.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Listen address; port 0 picks a free port ([`RunningWebhook::addr`]).
    pub listen: SocketAddr,
    pub tls: TlsSource,
    /// Largest AdmissionReview accepted; a larger one is HTTP 400.
    pub max_body_bytes: usize,
}

impl WebhookOptions {
    /// Loopback on a free port, the API server's own 3 MiB request limit.
    pub fn new(tls: TlsSource) -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 0)), tls, max_body_bytes: DEFAULT_MAX_BODY_BYTES }
    }
}

/// The routes over `state`.
pub fn router(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route("/v1/admit", post(super::admission::admit))
        .route("/healthz", get(|| async { "ok" }))
        // `/v1/admit` enforces its own limit with a 400 and a reason; axum's default would answer 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// A webhook serving in this process. Dropping it does not stop it; call [`Self::shutdown`].
#[derive(Debug)]
pub struct RunningWebhook {
    addr: SocketAddr,
    policy: Arc<SharedPolicy>,
    handle: Handle<SocketAddr>,
    server: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

/// Starts serving. With a `client`, templates, constraints and synced kinds are watched into the
/// policy on top of `initial`; without one (tests without an API server) `initial` is served as is.
pub async fn start(
    options: WebhookOptions,
    client: Option<kube::Client>,
    initial: PolicyClient,
) -> Result<RunningWebhook, WebhookError> {
    let policy = Arc::new(SharedPolicy::new(initial));
    let mut background = Vec::new();
    if let Some(client) = client {
        background.push(tokio::spawn(policy_cache::run(client.clone(), policy.clone())));
        background.push(tokio::spawn(sync::run(client, policy.clone())));
    }
    let state = Arc::new(WebhookState { policy: policy.clone(), max_body_bytes: options.max_body_bytes });
    let handle = Handle::new();
    let served = policy_webhook::server::serve(options.listen, &options.tls, router(state), handle.clone()).await;
    let (addr, server) = match served {
        Ok(bound) => bound,
        Err(e) => {
            background.iter().for_each(JoinHandle::abort);
            return Err(e);
        }
    };
    tracing::info!(%addr, "validation.gatekeeper.sh listening");
    Ok(RunningWebhook { addr, policy, handle, server, background })
}

impl RunningWebhook {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>/v1/admit`.
    pub fn admit_url(&self) -> String {
        format!("https://{}/v1/admit", self.addr)
    }

    /// The policy the webhook serves (its current snapshot and the writer behind it).
    pub fn policy(&self) -> &Arc<SharedPolicy> {
        &self.policy
    }

    /// Stops serving (open connections get a second to finish) and stops the watchers.
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        for task in &self.background {
            task.abort();
        }
        let _ = self.server.await;
    }
}
