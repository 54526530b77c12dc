//! Reads the webhook's full scan (`/v1/audit`) and its real-time denials (`/v1/denials`), contracts §5;
//! the bodies are [`contracts::webhook`]'s.

use contracts::webhook::{AuditResponse, DenialPage};

use crate::backoff::{RetryPolicy, retry};
use crate::http_client::{HttpError, send_json};

pub struct WebhookClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    /// The webhook's read token ([`contracts::credential`]), sent when set.
    read_token: Option<String>,
}

impl WebhookClient {
    pub fn new(http: reqwest::Client, base: &str, retry: RetryPolicy) -> Self {
        Self { http, base: base.trim_end_matches('/').to_string(), retry, read_token: None }
    }

    /// Sends `Authorization: Bearer <token>`, which a webhook with a read token requires.
    pub fn with_read_token(mut self, token: Option<String>) -> Self {
        self.read_token = token;
        self
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.read_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The full scan over everything the webhook replicates.
    pub async fn audit(&self) -> Result<AuditResponse, HttpError> {
        let url = format!("{}/v1/audit", self.base);
        retry(self.retry, || send_json("webhook audit", self.get(&url)), log_retry).await
    }

    /// Denials with sequence numbers at or after `since`.
    pub async fn denials(&self, since: u64) -> Result<DenialPage, HttpError> {
        let url = format!("{}/v1/denials?since={since}", self.base);
        retry(self.retry, || send_json("webhook denials", self.get(&url)), log_retry).await
    }
}

fn log_retry(e: &HttpError, wait: std::time::Duration) {
    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "webhook call failed; retrying");
}
