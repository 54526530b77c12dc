//! An ARM request as the handlers see it: [`checked`] reads a raw request the way ARM checks it
//! (path, body size, auth, api-version, content type) into an [`ArmRequest`], which every handler
//! takes, plus the small helpers handlers answer with. Routing lives in `arm`, which imports the
//! handlers; the handlers import this module, never `arm`.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::app::SharedApp;
use crate::auth::{Caller, authenticate};
use crate::error::{ArmError, ArmResult, kind_of};
use crate::ids;

/// A checked ARM request, as the handlers see it.
pub struct ArmRequest {
    pub method: Method,
    /// Decoded path segments in the caller's casing.
    pub segs: Vec<String>,
    /// The same, lower-cased, for matching.
    pub lower: Vec<String>,
    /// Query parameters; keys lower-cased (`api-version`, `$top`, `$filter`...).
    pub query: BTreeMap<String, String>,
    pub api_version: String,
    pub caller: Caller,
    /// Base URL as the caller reached us (for LRO URLs).
    pub base: String,
    pub body: Bytes,
}

impl ArmRequest {
    /// The body as a JSON object; ARM's `InvalidRequestContent` otherwise.
    pub fn json_object(&self) -> ArmResult<serde_json::Map<String, Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ArmError::bad_request("InvalidRequestContent", "The request content was empty."));
        }
        match serde_json::from_slice::<Value>(&self.body).map_err(ArmError::invalid_content)? {
            Value::Object(map) => Ok(map),
            other => Err(ArmError::invalid_content(format!("expected a JSON object, found {}", kind_of(&other)))),
        }
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// The resource id this request addresses, as the caller spelled it.
    pub fn path_id(&self) -> String {
        ids::join(&self.segs)
    }

    /// An absolute URL on this server, carrying the request's api-version.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}?api-version={}", self.base, self.api_version)
    }

    /// 405 unless the request uses `allowed`.
    pub fn only(&self, allowed: Method) -> ArmResult<()> {
        if self.method == allowed { Ok(()) } else { Err(self.method_not_allowed()) }
    }

    /// 405, worded as ARM words it.
    pub fn method_not_allowed(&self) -> ArmError {
        ArmError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{}'.", self.method),
        )
    }
}

/// A JSON response with a status.
pub fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Parses a query string (`+` is a space, `%xx` escapes), keys lower-cased.
pub fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    let decode = |s: &str| ids::decode_segment(&s.replace('+', " "));
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k).to_ascii_lowercase(), decode(v))
        })
        .collect()
}

static API_VERSION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|beta|alpha))?$").expect("valid regex")
});

fn check_api_version(query: &BTreeMap<String, String>) -> ArmResult<String> {
    let version = query.get("api-version").ok_or_else(|| {
        ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    })?;
    if !API_VERSION.is_match(version) {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!("The api-version '{version}' is invalid. The supported versions are dates such as '2019-10-01'."),
        ));
    }
    Ok(version.clone())
}

fn check_content_type(headers: &HeaderMap, body: &Bytes) -> ArmResult<()> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media == "application/json" || media == "text/json" {
        return Ok(());
    }
    Err(ArmError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!("The content media type '{content_type}' is not supported. Only 'application/json' is supported."),
    ))
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> ArmResult<Bytes> {
    let too_large = || {
        ArmError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request content is larger than the {limit} bytes ARM accepts."),
        )
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large())
}

/// Checks `request` the way ARM does before it routes: the path is an ARM path, the body within the
/// limit, the caller authenticated, the api-version well formed, the content JSON.
pub async fn checked(app: &SharedApp, request: Request) -> ArmResult<ArmRequest> {
    let (parts, body) = request.into_parts();
    let segs = ids::segments(parts.uri.path());
    let lower: Vec<String> = segs.iter().map(|s| ids::key(s)).collect();
    if !matches!(lower.first().map(String::as_str), Some("subscriptions" | "providers" | "tenants")) {
        return Err(ArmError::not_found(
            "NotFound",
            format!("No HTTP resource was found that matches the request URI '{}'.", parts.uri.path()),
        ));
    }
    let body = read_body(body, &parts.headers, app.config.max_body_bytes).await?;
    let caller = app.store.read(|state| authenticate(state, &parts.headers))?;
    let query = parse_query(parts.uri.query());
    let api_version = check_api_version(&query)?;
    check_content_type(&parts.headers, &body)?;
    let base = app.request_base(&parts.headers);
    Ok(ArmRequest { method: parts.method, segs, lower, query, api_version, caller, base, body })
}
