//! Reads the webhook's full scan (`/v1/audit`) and its real-time denials (`/v1/denials`), contracts §5;
//! the bodies are [`contracts::webhook`]'s.

use contracts::webhook::{AuditResponse, DenialPage};

use crate::backoff::{RetryPolicy, retry};
use crate::http_client::{HttpError, send_json};

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
    pub async fn denials(&self, since: u64) -> Result<DenialPage, HttpError> {
        let url = format!("{}/v1/denials?since={since}", self.base);
        retry(self.retry, || send_json("webhook denials", self.http.get(&url)), log_retry).await
    }
}

fn log_retry(e: &HttpError, wait: std::time::Duration) {
    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "webhook call failed; retrying");
}
