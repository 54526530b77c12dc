//! Reads the `gatekeeper` process's read API (`contracts::gatekeeper`): the last audit
//! (`GET /v1/audit`), a fresh one (`POST /v1/audit/run`) and the real-time admission results
//! (`GET /v1/denials?since=`), with the read token when one is set.

use contracts::gatekeeper::{AUDIT_PATH, AUDIT_RUN_PATH, AuditReport, DENIALS_PATH, DenialPage};

use crate::backoff::{RetryPolicy, retry};
use crate::http_client::{HttpError, send_json};

pub struct GatekeeperClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    read_token: Option<String>,
}

impl GatekeeperClient {
    pub fn new(http: reqwest::Client, base: &str, retry: RetryPolicy, read_token: Option<String>) -> Self {
        Self { http, base: base.trim_end_matches('/').to_string(), retry, read_token }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.read_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The last finished audit; `None` while Gatekeeper has not finished one (its 503).
    pub async fn audit(&self) -> Result<Option<AuditReport>, HttpError> {
        let url = format!("{}{AUDIT_PATH}", self.base);
        let result =
            retry(self.retry, || send_json("gatekeeper audit", self.authorized(self.http.get(&url))), log_retry).await;
        match result {
            Ok(report) => Ok(Some(report)),
            Err(e) if e.status() == Some(503) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs an audit now and answers it (used when the audit cycle was triggered, so the report is fresh).
    pub async fn run_audit(&self) -> Result<AuditReport, HttpError> {
        let url = format!("{}{AUDIT_RUN_PATH}", self.base);
        retry(self.retry, || send_json("gatekeeper audit run", self.authorized(self.http.post(&url))), log_retry).await
    }

    /// Real-time results with sequence numbers at or after `since`.
    pub async fn denials(&self, since: u64) -> Result<DenialPage, HttpError> {
        let url = format!("{}{DENIALS_PATH}?since={since}", self.base);
        retry(self.retry, || send_json("gatekeeper denials", self.authorized(self.http.get(&url))), log_retry).await
    }
}

fn log_retry(e: &HttpError, wait: std::time::Duration) {
    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "gatekeeper call failed; retrying");
}
