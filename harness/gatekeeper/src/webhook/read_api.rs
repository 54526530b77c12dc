//! The routes the add-on's agent and lifecycle read (design point 2):
//!
//! | Route | |
//! |---|---|
//! | `GET /v1/audit` | the last finished audit, a [`contracts::gatekeeper::AuditReport`]; 503 before the first |
//! | `POST /v1/audit/run` | runs an audit now (concurrent calls share one) and answers its report |
//! | `GET /v1/denials?since=<seq>` | real-time `deny`/`warn` results, a [`contracts::gatekeeper::DenialPage`] |
//! | `GET /v1/status` | what admission enforces now, a [`contracts::gatekeeper::GatekeeperStatus`] |
//! | `GET /readyz` | 200 once the policy reflects the cluster ([`super::readiness`]), else 503 |
//!
//! The first three return cluster objects and decisions, so they take the read token when the
//! process has one ([`require_read_token`]), with the 2019 webhook's own check
//! ([`policy_webhook::server::require_token`], `contracts::credential`): 401 with a Bearer
//! challenge and a JSON `error`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::denial_log::DENIALS_PAGE;
use super::server::WebhookState;
use crate::audit::AuditError;

/// The answer of `GET /v1/audit` before any audit has finished.
pub const NO_AUDIT_YET: &str = "no audit has finished yet: the first runs once the policy is loaded, then every \
     --audit-interval; POST /v1/audit/run runs one now";

/// Refuses a read without the process's token: 401 with a Bearer challenge.
pub async fn require_read_token(
    State(state): State<Arc<WebhookState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    policy_webhook::server::require_token(state.read_token.as_deref(), request, next).await
}

/// `GET /v1/status`.
pub async fn status(State(state): State<Arc<WebhookState>>) -> Response {
    Json(state.policy.status()).into_response()
}

/// `GET /v1/audit`.
pub async fn last_audit(State(state): State<Arc<WebhookState>>) -> Response {
    match state.audit.last() {
        Some(report) => Json(report.as_ref()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, NO_AUDIT_YET).into_response(),
    }
}

/// `POST /v1/audit/run`.
pub async fn run_audit(State(state): State<Arc<WebhookState>>) -> Response {
    match state.audit.run().await {
        Ok(report) => Json(report.as_ref()).into_response(),
        Err(e @ (AuditError::NoApiServer | AuditError::NotReady(_))) => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("the audit failed: {e}")).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct DenialsQuery {
    #[serde(default)]
    since: u64,
}

/// `GET /v1/denials?since=<seq>`.
pub async fn denials(State(state): State<Arc<WebhookState>>, Query(q): Query<DenialsQuery>) -> Response {
    Json(state.denials.since(q.since, DENIALS_PAGE)).into_response()
}

/// `GET /readyz`.
pub async fn readyz(State(state): State<Arc<WebhookState>>) -> Response {
    let report = state.readiness.report();
    let code = if report.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(report)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::server::WebhookState;
    use policy_engine::gatekeeper_v3::PolicyClient;

    async fn text(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_audit_is_503_with_a_reason_before_the_first_one() {
        let state = Arc::new(WebhookState::without_api_server(PolicyClient::new()));
        let (status, body) = text(last_audit(State(state.clone())).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, NO_AUDIT_YET);
        let (status, body) = text(run_audit(State(state)).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("without an API server"), "{body}");
    }
}
