//! The agent's own HTTP server (contracts §6): health, metrics, status and the two triggers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::metrics::Metrics;
use crate::triggers::CycleLoop;

#[derive(Clone)]
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub refresh: CycleLoop,
    pub audit: CycleLoop,
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(|State(s): State<ServerState>| async move {
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
        }))
        .route("/status", get(|State(s): State<ServerState>| async move { Json(s.metrics.status()) }))
        .route("/trigger/refresh", post(|State(s): State<ServerState>| async move { trigger(&s.refresh).await }))
        .route("/trigger/audit", post(|State(s): State<ServerState>| async move { trigger(&s.audit).await }))
        .with_state(state)
}

/// Waits for the triggered cycle; 200 with the outcome (even a failed cycle is a valid answer), 503
/// only if the loop is gone.
async fn trigger(lp: &CycleLoop) -> axum::response::Response {
    match lp.trigger().await {
        Some(outcome) => (StatusCode::OK, Json(outcome)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"ok": false, "error": "loop stopped"}))).into_response(),
    }
}
