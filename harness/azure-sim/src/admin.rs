//! The admin API: test and operator controls that stand in for things Microsoft did by hand (approving
//! a limited-preview feature) or that only a simulator has (new subscriptions on demand, faults,
//! received reports). It lives under `/admin`, outside the ARM namespace, needs no token, and is
//! never subject to fault injection.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
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
    let creds = app.store.write(|state| subscriptions::create(state, &name));
    let token = app.token_for(&creds.subscription_id).unwrap_or_default();
    let body = json!({
        "subscriptionId": creds.subscription_id, "tenantId": creds.tenant_id,
        "clientId": creds.client_id, "clientSecret": creds.client_secret, "token": token,
    });
    (StatusCode::CREATED, Json(body)).into_response()
}
