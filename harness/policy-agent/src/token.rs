//! Service-principal token for the dataplane, fetched with the client-credentials grant from
//! azure-sim's ADFS-style endpoint (contracts §3) and cached until shortly before it expires, so a
//! busy cycle costs one token request per token lifetime, not one per call.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::backoff::{RetryPolicy, retry};
use crate::http_client::{HttpError, form_encode, send_json};

/// The audience ARM tokens are issued for (what `az` asks for too).
pub const ARM_RESOURCE: &str = "https://management.core.windows.net/";

/// A token is renewed this long before its stated expiry, so an in-flight request never carries a
/// token that expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// ADFS returns a number, AAD v1 a string: accept both.
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        N(u64),
        S(String),
    }
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        Some(NumOrStr::N(n)) => Some(n),
        Some(NumOrStr::S(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// Client credentials plus the cached token.
pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    retry: RetryPolicy,
    cached: Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        client_id: &str,
        client_secret: &str,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            http,
            token_url: format!("{}/adfs/oauth2/token", endpoint.trim_end_matches('/')),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            retry,
            cached: Mutex::new(None),
        }
    }

    /// A valid bearer token: the cached one, or a fresh one (retried on transient failures).
    /// Holding the lock while fetching makes concurrent callers share one request.
    pub async fn token(&self) -> Result<String, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let fresh = retry(
            self.retry,
            || self.fetch(),
            |e, wait| {
                tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "token request failed; retrying");
            },
        )
        .await?;
        let lifetime = Duration::from_secs(fresh.expires_in.unwrap_or(3600));
        let renew_at = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN.min(lifetime / 2));
        *cached = Some((fresh.access_token.clone(), renew_at));
        Ok(fresh.access_token)
    }

    /// Forgets the cached token (after a 401), so the next call fetches a new one.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<TokenResponse, HttpError> {
        let body = form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("resource", ARM_RESOURCE),
        ]);
        let req = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        send_json("token", req).await
    }
}
