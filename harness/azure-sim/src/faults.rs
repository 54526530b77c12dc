//! Fault injection: make chosen routes throttle (429 + `Retry-After`), fail (500/503), slow down or
//! drop the connection, for N calls or for a while. Scenarios use it to show how the CLI and the
//! add-on behave when Azure misbehaves. It is a layer in front of every route except `/admin`, so the
//! switch itself can never be faulted. Use it from Rust through [`Faults`] or over HTTP at
//! `/admin/faults` (`POST` a [`FaultRule`], `GET` lists, `DELETE` clears, `DELETE /admin/faults/{id}`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::SharedApp;
use crate::error::ArmError;

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// 429 `TooManyRequests` with `Retry-After`.
    #[serde(rename_all = "camelCase")]
    Throttle { retry_after_secs: u64 },
    /// A 500 or 503 (any 5xx) with an ARM error body.
    Status { status: u16 },
    /// Delay the request, then serve it normally.
    Latency { millis: u64 },
    /// Close the connection without a complete response.
    Drop,
}

/// A fault, the routes it applies to, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Path pattern, case-insensitive; `*` matches any run of characters (including `/`).
    pub route: String,
    /// Only this HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    pub fault: Fault,
    /// Apply to this many matching calls, then expire.
    #[serde(default)]
    pub calls: Option<u64>,
    /// Apply for this long after being added, then expire.
    #[serde(default)]
    pub duration_secs: Option<f64>,
}

impl FaultRule {
    /// A rule for `route` with no limit; chain [`FaultRule::times`] or [`FaultRule::for_duration`].
    pub fn new(route: &str, fault: Fault) -> Self {
        Self { route: route.to_string(), method: None, fault, calls: None, duration_secs: None }
    }

    pub fn times(mut self, calls: u64) -> Self {
        self.calls = Some(calls);
        self
    }

    pub fn for_duration(mut self, duration: Duration) -> Self {
        self.duration_secs = Some(duration.as_secs_f64());
        self
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }
}

struct Active {
    id: u64,
    rule: FaultRule,
    pattern: regex::Regex,
    remaining: Option<u64>,
    until: Option<Instant>,
    hits: u64,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    rules: Vec<Active>,
}

/// The fault table; cheap to clone, shared with the server.
#[derive(Clone, Default)]
pub struct Faults {
    table: Arc<Mutex<Table>>,
}

fn compile(route: &str) -> Result<regex::Regex, String> {
    let body: Vec<String> = route.split('*').map(regex::escape).collect();
    regex::RegexBuilder::new(&format!("^{}$", body.join(".*")))
        .case_insensitive(true)
        .build()
        .map_err(|e| e.to_string())
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a rule; returns its id.
    pub fn inject(&self, rule: FaultRule) -> Result<u64, String> {
        if let Fault::Status { status } = rule.fault
            && !(500..600).contains(&status)
        {
            return Err(format!("status faults must be 5xx, not {status}"));
        }
        let pattern = compile(&rule.route)?;
        let until = match rule.duration_secs {
            Some(d) if d.is_finite() && d >= 0.0 => Some(Instant::now() + Duration::from_secs_f64(d.min(1e9))),
            Some(_) => return Err("durationSecs must be a non-negative number".into()),
            None => None,
        };
        let mut table = self.lock();
        table.next_id += 1;
        let id = table.next_id;
        table.rules.push(Active { id, remaining: rule.calls, rule, pattern, until, hits: 0 });
        Ok(id)
    }

    /// Removes one rule; false if it was not there.
    pub fn remove(&self, id: u64) -> bool {
        let mut table = self.lock();
        let before = table.rules.len();
        table.rules.retain(|r| r.id != id);
        table.rules.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// The live rules with their ids and hit counts.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let now = Instant::now();
        let table = self.lock();
        table
            .rules
            .iter()
            .filter(|r| r.until.is_none_or(|u| u > now))
            .map(|r| json!({"id": r.id, "rule": r.rule, "hits": r.hits, "remainingCalls": r.remaining}))
            .collect()
    }

    /// The fault for a request, consuming one call of its rule; expired rules are dropped.
    fn take(&self, method: &Method, path: &str) -> Option<Fault> {
        let now = Instant::now();
        let mut table = self.lock();
        table.rules.retain(|r| r.remaining != Some(0) && r.until.is_none_or(|u| u > now));
        let rule = table.rules.iter_mut().find(|r| {
            r.pattern.is_match(path) && r.rule.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        })?;
        rule.hits += 1;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        Some(rule.rule.fault.clone())
    }
}

/// A body that fails on first read: hyper then aborts the connection (HTTP/1.1) or resets the
/// stream (HTTP/2), so the client sees a dropped connection, not a response.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::other("azure-sim: injected connection drop"))
    });
    Response::new(Body::from_stream(stream))
}

/// The middleware: applies the first matching rule, if any.
pub async fn layer(State(app): State<SharedApp>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/admin") {
        return next.run(request).await;
    }
    match app.faults.take(request.method(), &path) {
        None => next.run(request).await,
        Some(Fault::Latency { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        Some(Fault::Throttle { retry_after_secs }) => ArmError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "The request was throttled (injected fault). Retry after the number of seconds in the Retry-After header.",
        )
        .with_retry_after(retry_after_secs)
        .into_response(),
        Some(Fault::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code =
                if status == StatusCode::SERVICE_UNAVAILABLE { "ServiceUnavailable" } else { "InternalServerError" };
            ArmError::new(status, code, format!("The server returned {status} (injected fault).")).into_response()
        }
        Some(Fault::Drop) => dropped(),
    }
}

/// `POST /admin/faults`: body is a [`FaultRule`]; answers `{"id": n}`.
pub async fn admin_add(
    State(app): State<SharedApp>,
    body: Result<Json<FaultRule>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let rule = match body {
        Ok(Json(rule)) => rule,
        Err(e) => return ArmError::invalid_content(e.body_text()).into_response(),
    };
    match app.faults.inject(rule) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => ArmError::bad_request("InvalidFaultRule", e).into_response(),
    }
}

/// `GET /admin/faults`.
pub async fn admin_list(State(app): State<SharedApp>) -> Json<serde_json::Value> {
    Json(json!({ "value": app.faults.list() }))
}

/// `DELETE /admin/faults`.
pub async fn admin_clear(State(app): State<SharedApp>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

/// `DELETE /admin/faults/{id}`.
pub async fn admin_remove(State(app): State<SharedApp>, Path(id): Path<u64>) -> StatusCode {
    if app.faults.remove(id) { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_expire_after_their_calls() {
        let faults = Faults::default();
        faults
            .inject(FaultRule::new("/subscriptions/*/resourceGroups/*", Fault::Status { status: 503 }).times(2))
            .unwrap();
        let path = "/subscriptions/S/RESOURCEGROUPS/rg";
        assert!(faults.take(&Method::GET, path).is_some());
        assert!(faults.take(&Method::PUT, path).is_some());
        assert!(faults.take(&Method::GET, path).is_none());
        assert!(faults.take(&Method::GET, "/tenants").is_none());
        assert!(faults.inject(FaultRule::new("/x", Fault::Status { status: 404 })).is_err());
    }

    #[test]
    fn method_filter_and_duration() {
        let faults = Faults::default();
        faults.inject(FaultRule::new("*", Fault::Drop).method("POST").for_duration(Duration::from_secs(60))).unwrap();
        assert!(faults.take(&Method::GET, "/a").is_none());
        assert_eq!(faults.take(&Method::POST, "/a"), Some(Fault::Drop));
        faults.inject(FaultRule::new("*", Fault::Drop).for_duration(Duration::ZERO)).unwrap();
        assert_eq!(faults.list().len(), 1);
    }
}
