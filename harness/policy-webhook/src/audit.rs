//! `GET /v1/audit`: Gatekeeper v2's audit endpoint, the unfiltered `data.admission.deny` set over the
//! replicated objects, in the shape the add-on's periodic scan read
//! (`{"message":"total violations:N","violations":[...]}`).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The `/v1/audit` handler. A full audit over thousands of objects is CPU work measured in
/// milliseconds to a second, so it runs on the blocking pool rather than stalling admission requests
/// that share the async workers. Like Gatekeeper, an evaluation error is HTTP 500 with its text.
pub async fn audit(State(state): State<Arc<AppState>>) -> Response {
    let started = Instant::now();
    let snapshot = state.engine.snapshot();
    let result = tokio::task::spawn_blocking(move || snapshot.audit()).await;
    match result {
        Ok(Ok(violations)) => {
            state.metrics.record_audit(violations.len());
            tracing::info!(violations = violations.len(), duration_ms = started.elapsed().as_millis() as u64, "audit");
            Json(policy_engine::audit_response(&violations)).into_response()
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "audit failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("audit failed: {error}")).into_response()
        }
        Err(join) => {
            tracing::error!(error = %join, "audit task panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "audit failed: policy engine panicked".to_string()).into_response()
        }
    }
}
