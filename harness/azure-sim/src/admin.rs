//! The admin API: test and operator controls that stand in for things Microsoft did by hand (approving
//! a limited-preview feature) or that only a simulator has (new subscriptions on demand, faults,
//! received reports). It lives under `/admin`, outside the ARM namespace, and is never subject to
//! fault injection. It needs the server's admin token whenever it has one: always when the listener
//! is reachable beyond loopback ([`contracts::credential`]), since it can mint owner credentials.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::SharedApp;
use crate::error::ArmError;
use crate::{features, subscriptions};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproveRequest {
    subscription_id: String,
    namespace: String,
    name: String,
}

/// Refuses an admin request without the server's token (401, ARM-shaped body, a Bearer challenge).
pub async fn require_credential(State(app): State<SharedApp>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.admin_token else { return next.run(request).await };
    let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match contracts::credential::authorize(presented, expected) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            let body = json!({"error": {"code": "AuthenticationFailed", "message": format!("admin API: {e}")}});
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, contracts::credential::CHALLENGE)], Json(body))
                .into_response()
        }
    }
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// `POST /admin/features/approve` `{"subscriptionId","namespace","name"}`: `Pending` → `Registered`.
pub async fn approve_feature(State(app): State<SharedApp>, body: JsonBody<ApproveRequest>) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) => return ArmError::invalid_content(e.body_text()).into_response(),
    };
    match app.store.write(|state| features::approve(state, &req.subscription_id, &req.namespace, &req.name)) {
        Ok(s) => Json(json!({"subscriptionId": req.subscription_id, "feature": format!("{}/{}", req.namespace, req.name), "state": s.as_str()})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSubscription {
    display_name: Option<String>,
}

/// `POST /admin/subscriptions` `{"displayName"?}`: a fresh subscription with its owner's credentials
/// and a ready token (one per scenario keeps scenarios apart).
pub async fn new_subscription(State(app): State<SharedApp>, body: JsonBody<NewSubscription>) -> Response {
    let name = body.ok().and_then(|Json(b)| b.display_name).unwrap_or_else(|| "Azure Sim Scenario".to_string());
    let creds = app.store.write(|state| subscriptions::create(state, &name, app.config.addon_generation));
    let token = app.token_for(&creds.subscription_id).unwrap_or_default();
    let body = json!({
        "subscriptionId": creds.subscription_id, "tenantId": creds.tenant_id,
        "clientId": creds.client_id, "clientSecret": creds.client_secret, "token": token,
    });
    (StatusCode::CREATED, Json(body)).into_response()
}
