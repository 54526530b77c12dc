//! The simulated template store: `GET /kubernetes/<slug>/v<N>/template.yaml`, standing in for
//! Azure's public `store.policy.core.windows.net`. The templates are `policy-library`'s; no auth,
//! as the public store needs none.
//!
//! Built-in definitions keep Azure's store URLs (what `az` shows matches Azure); the dataplane hands
//! the add-on [`local_url`] instead, so the add-on downloads from this server.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::SharedApp;
use crate::error::ArmError;

/// `GET /kubernetes/{slug}/{version}/template.yaml`.
pub async fn template(Path((slug, version)): Path<(String, String)>) -> Response {
    let entry = version.strip_prefix('v').and_then(|v| v.parse().ok()).and_then(|v| policy_library::get(&slug, v));
    match entry {
        Some(entry) => {
            let mut response = entry.template.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/yaml; charset=utf-8"));
            response
        }
        None => ArmError::not_found(
            "TemplateNotFound",
            format!("The template store has no template '{slug}' version '{version}'."),
        )
        .into_response(),
    }
}

/// A `templateInfo.url` as the add-on should fetch it: Azure's store host replaced by this
/// server's base URL; any other URL unchanged.
pub fn local_url(app: &SharedApp, url: &str) -> String {
    match url.strip_prefix(policy_library::STORE_URL_PREFIX) {
        Some(rest) => format!("{}/kubernetes/{rest}", app.base_url()),
        None => url.to_string(),
    }
}
