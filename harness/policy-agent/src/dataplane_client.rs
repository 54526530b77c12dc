//! The agent's side of the dataplane protocol (contracts §3): list assignments, download Rego,
//! post reports. Calls carry a cached bearer token; a 401 drops the cache and retries once with a
//! fresh token (a token can be revoked or rotated before its stated expiry).

use std::sync::Arc;

use contracts::dataplane::{Assignment, AssignmentList, ComplianceReport, ReportAck};

use crate::backoff::{RetryPolicy, retry};
use crate::http_client::{HttpError, is_unauthorized, send_json, send_text};
use crate::token::TokenSource;

/// Talks to azure-sim's dataplane for one cluster.
pub struct DataplaneClient {
    http: reqwest::Client,
    base: String,
    cluster_id: String,
    token: Arc<TokenSource>,
    retry: RetryPolicy,
}

impl DataplaneClient {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        cluster_id: &str,
        token: Arc<TokenSource>,
        retry: RetryPolicy,
    ) -> Self {
        Self { http, base: base.trim_end_matches('/').to_string(), cluster_id: cluster_id.to_string(), token, retry }
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The cluster's active 2019 (Rego) assignments, retried on transient failures.
    pub async fn assignments(&self) -> Result<Vec<Assignment>, HttpError> {
        Ok(self.assignment_list().await?.assignments)
    }

    /// The whole assignment list: the 2019 assignments and the current add-on's
    /// `constraintAssignments`, retried on transient failures.
    pub async fn assignment_list(&self) -> Result<AssignmentList, HttpError> {
        let mut url = reqwest::Url::parse(&format!("{}/dataplane/v1/assignments", self.base))
            .map_err(|e| HttpError::Setup(format!("dataplane endpoint: {e}")))?;
        url.query_pairs_mut().append_pair("clusterId", &self.cluster_id);
        retry(self.retry, || self.authorized("assignments", |http| http.get(url.clone())), log_retry).await
    }

    /// Downloads one Rego file (no auth: `/policies/...` is public), retried with back-off.
    pub async fn download_policy(&self, policy_uri: &str) -> Result<String, HttpError> {
        self.download("policy download", policy_uri).await
    }

    /// Downloads a ConstraintTemplate or Constraint YAML (a public store URL), retried with back-off.
    pub async fn download_template(&self, url: &str) -> Result<String, HttpError> {
        self.download("template download", url).await
    }

    async fn download(&self, op: &'static str, url: &str) -> Result<String, HttpError> {
        retry(self.retry, || send_text(op, self.http.get(url)), log_retry).await
    }

    /// One attempt at posting `report`; the caller owns the retry loop because it also owns the
    /// queue of unacknowledged reports.
    pub async fn post_report_once(&self, report: &ComplianceReport) -> Result<ReportAck, HttpError> {
        let url = format!("{}/dataplane/v1/reports", self.base);
        self.authorized("report", |http| http.post(&url).header("Idempotency-Key", &report.report_id).json(report))
            .await
    }

    async fn authorized<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<T, HttpError> {
        let token = self.token.token().await?;
        match send_json(op, build(&self.http).bearer_auth(&token)).await {
            Err(e) if is_unauthorized(&e) => {
                tracing::info!(op, "dataplane answered 401; refreshing the token once");
                self.token.invalidate().await;
                let token = self.token.token().await?;
                send_json(op, build(&self.http).bearer_auth(&token)).await
            }
            other => other,
        }
    }
}

fn log_retry(e: &HttpError, wait: std::time::Duration) {
    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "dataplane call failed; retrying");
}
