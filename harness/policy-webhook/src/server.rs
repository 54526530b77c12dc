//! The HTTPS server: routes, TLS from PEM files (rustls with ring), and the small read-only handlers.
//!
//! | Route | |
//! |---|---|
//! | `POST /v1/admit` | AdmissionReview v1/v1beta1 → AdmissionReview ([`crate::admission`]) |
//! | `GET /v1/audit` | Gatekeeper v2 audit ([`crate::audit`]) |
//! | `GET /v1/denials?since=<seq>` | real-time denials for the agent ([`crate::denials`]) |
//!
//! The two read endpoints return cluster objects and decisions, so they take the read token when
//! the webhook has one ([`require_read_token`]); the API server only ever calls `/v1/admit`.
//!
//! | Route | |
//! |---|---|
//! | `GET /v1/status` | loaded modules, rejected keys, replicated objects ([`contracts::webhook::WebhookStatus`]) |
//! | `GET /healthz` | the process serves |
//! | `GET /readyz` | the initial ConfigMap list is loaded (503 until then) |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use serde::Deserialize;

use crate::error::WebhookError;
use crate::state::AppState;

/// Where the serving certificate and key come from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files (the binary's `--tls-cert-file`/`--tls-key-file`).
    Files { cert: PathBuf, key: PathBuf },
    /// PEM text in memory (tests, in-process use).
    Pem { cert: String, key: String },
}

impl TlsSource {
    pub(crate) async fn rustls_config(&self) -> Result<RustlsConfig, WebhookError> {
        let result = match self {
            TlsSource::Files { cert, key } => RustlsConfig::from_pem_file(cert, key).await,
            TlsSource::Pem { cert, key } => {
                RustlsConfig::from_pem(cert.as_bytes().to_vec(), key.as_bytes().to_vec()).await
            }
        };
        result.map_err(|e| WebhookError::Tls(e.to_string()))
    }
}

/// Most denials one `/v1/denials` call returns; the agent follows `next` for more.
const DENIALS_PAGE: usize = 1000;

/// All routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let reads = Router::new()
        .route("/v1/audit", get(crate::audit::audit))
        .route("/v1/denials", get(denials))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_read_token));
    Router::new()
        .route("/v1/admit", post(crate::admission::admit))
        .merge(reads)
        .route("/v1/status", get(status))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // `/v1/admit` enforces its own limit with a 400 and a reason; axum's default would answer 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Refuses a read without the webhook's token: 401 with a Bearer challenge.
pub async fn require_read_token(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    require_token(state.read_token.as_deref(), request, next).await
}

/// Passes `request` on when it carries `expected` as its bearer token (or no token is expected),
/// else answers 401 with a Bearer challenge and a JSON `error` (`contracts::credential`). `pub` for
/// the Gatekeeper v3 webhook's reads (`harness/gatekeeper`), which take the token the same way.
pub async fn require_token(
    expected: Option<&str>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(expected) = expected else { return next.run(request).await };
    let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match contracts::credential::authorize(presented, expected) {
        Ok(()) => next.run(request).await,
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, contracts::credential::CHALLENGE)],
            Json(serde_json::json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `router` over TLS until `handle` shuts down.
/// Returns the bound address as soon as the socket is listening, and the serving task. `pub` for
/// the Gatekeeper v3 webhook (`harness/gatekeeper`).
pub async fn serve(
    addr: SocketAddr,
    tls: &TlsSource,
    router: Router,
    handle: Handle<SocketAddr>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), WebhookError> {
    let config = tls.rustls_config().await?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| WebhookError::Bind { addr, source: e })?;
    listener.set_nonblocking(true).map_err(|e| WebhookError::Bind { addr, source: e })?;
    let bound = listener.local_addr().map_err(|e| WebhookError::Bind { addr, source: e })?;
    let server = axum_server::from_tcp_rustls(listener, config)
        .map_err(|e| WebhookError::Bind { addr, source: e })?
        .handle(handle);
    let task = tokio::spawn(server.serve(router.into_make_service()));
    Ok((bound, task))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let report = state.readiness.report();
    let code = if report.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(report)).into_response()
}

async fn status(State(state): State<Arc<AppState>>) -> Json<contracts::webhook::WebhookStatus> {
    Json(state.status())
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

#[derive(Debug, Deserialize)]
struct DenialsQuery {
    #[serde(default)]
    since: u64,
}

async fn denials(State(state): State<Arc<AppState>>, Query(q): Query<DenialsQuery>) -> Response {
    Json(state.denials.since(q.since, DENIALS_PAGE)).into_response()
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
