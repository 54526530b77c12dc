//! The one place that talks HTTP: ARM requests with the bearer token and an api-version, ARM error
//! bodies turned into [`AzError::Arm`] (code carried through), and long-running-operation polling
//! for both ARM patterns (`Azure-AsyncOperation` status documents and 202 + `Location`).

use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde_json::Value;

use super::AzCli;
use super::error::{AzError, AzResult};

/// An ARM response: status, the two LRO headers, and the JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub async_operation: Option<String>,
    pub location: Option<String>,
    pub body: Value,
}

impl AzCli {
    /// An absolute URL for an ARM path (or an absolute URL as given, for LRO links), with
    /// `api-version` and any extra query parameters (`$filter`, `$top`...) percent-encoded.
    fn url(&self, path: &str, api_version: Option<&str>, query: &[(&str, String)]) -> AzResult<Url> {
        let raw = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        };
        let mut url = Url::parse(&raw).map_err(|e| AzError::Transport(format!("bad URL {raw}: {e}")))?;
        if api_version.is_some() || !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            if let Some(v) = api_version {
                pairs.append_pair("api-version", v);
            }
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends one request; any status ≥ 400 becomes an [`AzError::Arm`]. Like msrest's retry
    /// policy in the 2019 CLI, 408/429/5xx answers are retried (up to `max_retries` times, every
    /// method), waiting `Retry-After` when the server sends it and an exponential backoff otherwise,
    /// so a throttled ARM slows a command down instead of failing it.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        api_version: Option<&str>,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> AzResult<Reply> {
        let url = self.url(path, api_version, query)?;
        let mut attempt = 0;
        loop {
            let mut retry_after = None;
            let reply = self.exchange(method.clone(), &url, body, &mut retry_after).await;
            match &reply {
                Err(AzError::Arm { status, .. }) if RETRIED.contains(status) && attempt < self.max_retries => {
                    // `Retry-After` (capped at 10 s), else a backoff doubling from the poll interval.
                    let wait = retry_after.map_or_else(
                        || self.poll_interval * 2u32.pow(attempt),
                        |secs| Duration::from_secs(secs.min(10)),
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return reply,
            }
        }
    }

    /// One request; `retry_after` receives the response's `Retry-After` seconds, if any.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        retry_after: &mut Option<u64>,
    ) -> AzResult<Reply> {
        let mut request = self.http.request(method, url.clone()).bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.to_string());
        }
        let response = request.send().await.map_err(|e| AzError::Transport(format!("request to {url} failed: {e}")))?;
        let status = response.status().as_u16();
        *retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (async_operation, location) = (header("azure-asyncoperation"), header("location"));
        let bytes =
            response.bytes().await.map_err(|e| AzError::Transport(format!("reading the response from {url}: {e}")))?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status >= 400 {
            return Err(arm_error(status, &body));
        }
        Ok(Reply { status, async_operation, location, body })
    }

    pub(crate) async fn get(&self, path: &str, api_version: &str) -> AzResult<Value> {
        Ok(self.call(Method::GET, path, Some(api_version), &[], None).await?.body)
    }

    /// GET of a collection: its `value` array.
    pub(crate) async fn list(&self, path: &str, api_version: &str) -> AzResult<Value> {
        let body = self.get(path, api_version).await?;
        Ok(body.get("value").cloned().unwrap_or(Value::Array(Vec::new())))
    }

    pub(crate) async fn post(&self, path: &str, api_version: &str, query: &[(&str, String)]) -> AzResult<Reply> {
        self.call(Method::POST, path, Some(api_version), query, None).await
    }

    pub(crate) async fn put(&self, path: &str, api_version: &str, body: &Value) -> AzResult<Reply> {
        self.call(Method::PUT, path, Some(api_version), &[], Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str, api_version: &str) -> AzResult<Reply> {
        self.call(Method::DELETE, path, Some(api_version), &[], None).await
    }

    /// Waits for a long-running operation started by `reply`, whichever pattern it used:
    /// `Azure-AsyncOperation` is polled until its `status` is terminal (`Failed`/`Canceled` become
    /// an ARM error with the operation's error code); otherwise a 202 `Location` is polled until it
    /// stops answering 202, and its final body is returned. A reply with neither is already done.
    pub(crate) async fn wait(&self, reply: &Reply) -> AzResult<Value> {
        if let Some(url) = &reply.async_operation {
            let status = self
                .poll(url, |r| {
                    r.body["status"].as_str().is_some_and(|s| s != "InProgress" && s != "Running" && s != "Accepted")
                })
                .await?;
            return match status.body["status"].as_str() {
                Some("Succeeded") => Ok(reply.body.clone()),
                _ => {
                    let error = &status.body["error"];
                    let code = error["code"].as_str().unwrap_or("OperationFailed").to_string();
                    let message = error["message"].as_str().map_or_else(
                        || format!("Operation failed with status: '{}'.", status.body["status"]),
                        str::to_string,
                    );
                    Err(AzError::Arm { status: 200, code, message })
                }
            };
        }
        match (&reply.location, reply.status) {
            (Some(url), 202) => Ok(self.poll(url, |r| r.status != 202).await?.body),
            _ => Ok(reply.body.clone()),
        }
    }

    /// GETs `url` every poll interval until `done` says so, or the LRO timeout passes.
    async fn poll(&self, url: &str, done: impl Fn(&Reply) -> bool) -> AzResult<Reply> {
        let started = Instant::now();
        loop {
            tokio::time::sleep(self.poll_interval).await;
            let reply = self.call(Method::GET, url, None, &[], None).await?;
            if done(&reply) {
                return Ok(reply);
            }
            if started.elapsed() > self.lro_timeout {
                return Err(AzError::cli(format!(
                    "the operation did not finish within {:?} (polling {url})",
                    self.lro_timeout
                )));
            }
        }
    }
}

/// Turns an ARM error body into [`AzError::Arm`]; non-ARM bodies keep the HTTP status as the code.
fn arm_error(status: u16, body: &Value) -> AzError {
    let error = body.get("error").unwrap_or(body);
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let code = error["code"].as_str().map_or_else(|| reason.replace(' ', ""), str::to_string);
    let message = match (error["message"].as_str(), body) {
        (Some(m), _) => m.to_string(),
        (None, Value::String(s)) => format!("Operation returned an invalid status code '{reason}': {s}"),
        (None, _) => format!("Operation returned an invalid status code '{reason}'"),
    };
    AzError::Arm { status, code, message }
}

/// Statuses msrest retried.
const RETRIED: &[u16] = &[408, 429, 500, 502, 503, 504];

/// The default interval between LRO polls. The real CLI honours `Retry-After` (azure-sim sends 1 s);
/// nothing observable depends on the interval, so the harness polls faster to keep scenarios quick.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long an LRO may run before the command gives up.
pub const DEFAULT_LRO_TIMEOUT: Duration = Duration::from_secs(180);
