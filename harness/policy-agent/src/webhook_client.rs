//! Reads the webhook's full scan (`/v1/audit`) and its real-time denials (`/v1/denials`), contracts §5.

use serde::Deserialize;

use crate::backoff::{retry, RetryPolicy};
use crate::http_client::{send_json, HttpError};

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ResourceRef {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Resolution {
    #[serde(default)]
    pub message: String,
}

/// One element of Gatekeeper's `data.admission.deny`, as `/v1/audit` returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct AuditViolation {
    pub id: String,
    pub resource: ResourceRef,
    pub resolution: Resolution,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuditResponse {
    #[serde(default)]
    pub message: String,
    /// Omitted when empty (Go `omitempty`).
    #[serde(default)]
    pub violations: Vec<AuditViolation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DenialViolation {
    pub id: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Denial {
    pub seq: u64,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub operation: String,
    pub resource: ResourceRef,
    #[serde(default)]
    pub violations: Vec<DenialViolation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DenialsResponse {
    /// The cursor for the following call.
    pub next: u64,
    #[serde(default)]
    pub denials: Vec<Denial>,
}

pub struct WebhookClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
}

impl WebhookClient {
    pub fn new(http: reqwest::Client, base: &str, retry: RetryPolicy) -> Self {
        Self { http, base: base.trim_end_matches('/').to_string(), retry }
    }

    /// The full scan over everything the webhook replicates.
    pub async fn audit(&self) -> Result<AuditResponse, HttpError> {
        let url = format!("{}/v1/audit", self.base);
        retry(self.retry, || send_json("webhook audit", self.http.get(&url)), log_retry).await
    }

    /// Denials with sequence numbers at or after `since`.
    pub async fn denials(&self, since: u64) -> Result<DenialsResponse, HttpError> {
        let url = format!("{}/v1/denials?since={since}", self.base);
        retry(self.retry, || send_json("webhook denials", self.http.get(&url)), log_retry).await
    }
}

fn log_retry(e: &HttpError, wait: std::time::Duration) {
    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "webhook call failed; retrying");
}
