//! HTTP plumbing shared by the dataplane and webhook clients: a reqwest client that trusts only the
//! configured CA, and one error type that knows which failures are worth retrying.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::backoff::{Retryable, parse_retry_after};

/// A failed HTTP exchange. `op` names the call ("token", "assignments", "report", …) for logs.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{op}: HTTP {status}: {body}")]
    Status { op: &'static str, status: u16, body: String, retry_after: Option<Duration> },
    #[error("{op}: transport error: {source}")]
    Transport {
        op: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{op}: invalid response: {message}")]
    Decode { op: &'static str, message: String },
    #[error("HTTP client setup: {0}")]
    Setup(String),
}

impl HttpError {
    /// A short label for the `errors_total{kind=…}` metric.
    pub fn op(&self) -> &'static str {
        match self {
            HttpError::Status { op, .. } | HttpError::Transport { op, .. } | HttpError::Decode { op, .. } => op,
            HttpError::Setup(_) => "setup",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Retryable for HttpError {
    /// Throttling, server errors, timeouts and connection faults are transient; other 4xx are not
    /// (401 is handled by the token layer, which refreshes and retries itself). A body that fails to
    /// decode is treated as transient because a dropped connection can truncate it.
    fn is_retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            HttpError::Transport { .. } | HttpError::Decode { .. } => true,
            HttpError::Setup(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Builds a client that trusts exactly the CA in `ca_file` (or has no roots: plain HTTP only).
/// `pooled = false` opens a fresh connection per request, which tests use to aim faults at one call.
pub fn build(ca_file: Option<&Path>, timeout: Duration, pooled: bool) -> Result<reqwest::Client, HttpError> {
    let mut b = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout.min(Duration::from_secs(5)));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| HttpError::Setup(format!("reading {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| HttpError::Setup(format!("parsing {}: {e}", path.display())))?;
        b = b.tls_certs_only(certs);
    }
    if !pooled {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().map_err(|e| HttpError::Setup(e.to_string()))
}

/// Sends `req` and returns the body when the status is 2xx; otherwise a `Status` error that carries
/// `Retry-After`.
pub async fn send_text(op: &'static str, req: reqwest::RequestBuilder) -> Result<String, HttpError> {
    let resp = req.send().await.map_err(|source| HttpError::Transport { op, source })?;
    let status = resp.status();
    let retry_after =
        resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
    let body = resp.text().await.map_err(|source| HttpError::Transport { op, source })?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(HttpError::Status { op, status: status.as_u16(), body: truncate(body), retry_after })
    }
}

/// Like [`send_text`], then decodes JSON.
pub async fn send_json<T: DeserializeOwned>(op: &'static str, req: reqwest::RequestBuilder) -> Result<T, HttpError> {
    let body = send_text(op, req).await?;
    serde_json::from_str(&body).map_err(|e| HttpError::Decode { op, message: e.to_string() })
}

/// `true` for the status that means "your token is no longer good".
pub fn is_unauthorized(e: &HttpError) -> bool {
    e.status() == Some(StatusCode::UNAUTHORIZED.as_u16())
}

/// Encodes `pairs` as `application/x-www-form-urlencoded` without pulling in reqwest's `form`
/// feature (which would fork reqwest's feature set across the workspace).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("static URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

fn truncate(mut s: String) -> String {
    const MAX: usize = 512;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(form_encode(&[("a", "x y"), ("b", "1&2=3/")]), "a=x+y&b=1%262%3D3%2F");
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let st = |status| HttpError::Status { op: "t", status, body: String::new(), retry_after: None };
        assert!(st(429).is_retryable() && st(503).is_retryable() && st(500).is_retryable());
        assert!(!st(403).is_retryable() && !st(404).is_retryable() && !st(401).is_retryable());
    }
}
