//! `/v1/audit` and `/v1/denials` return cluster objects and decisions: on a listener reachable
//! beyond loopback they need the webhook's read token (contracts §10); `/v1/admit`, which the API
//! server calls, and the health endpoints stay open.

mod common;

use common::*;
use policy_webhook::{TlsSource, WebhookOptions};
use reqwest::StatusCode;

async fn start(listen: &str, read_token: Option<&str>) -> (policy_webhook::RunningWebhook, reqwest::Client, String) {
    pki::install_ring_provider();
    let pki = test_pki();
    let mut options = WebhookOptions::new(TlsSource::Pem { cert: pki.cert_pem, key: pki.key_pem });
    options.listen = listen.parse().unwrap();
    options.read_token = read_token.map(str::to_string);
    let running = policy_webhook::start(options, None, engine_with_nine()).await.unwrap();
    // The serving certificate names 127.0.0.1, which also reaches a 0.0.0.0 listener.
    let base = format!("https://127.0.0.1:{}", running.addr().port());
    (running, https_client(&pki.ca_pem), base)
}

async fn status(client: &reqwest::Client, url: String, token: Option<&str>) -> StatusCode {
    let request = client.get(url);
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn a_listener_beyond_loopback_guards_the_read_endpoints_with_a_generated_token() {
    let (running, client, base) = start("0.0.0.0:0", None).await;
    let token = running.read_token().expect("a token is generated for a non-loopback listener").to_string();
    assert_eq!(token.len(), 32);
    for path in ["/v1/audit", "/v1/denials"] {
        let refused = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            refused.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some(contracts::credential::CHALLENGE)
        );
        assert!(refused.text().await.unwrap().contains("Authorization: Bearer"), "{path}");
        assert_eq!(status(&client, format!("{base}{path}"), Some("wrong")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&client, format!("{base}{path}"), Some(&token)).await, StatusCode::OK, "{path}");
    }
    for path in ["/v1/status", "/healthz", "/readyz"] {
        assert_eq!(status(&client, format!("{base}{path}"), None).await, StatusCode::OK, "{path}");
    }
    let review = review_for("u-1", "pods", "", &compliant_pod("team", "ok"));
    let admitted = client.post(format!("{base}/v1/admit")).json(&review).send().await.unwrap();
    assert_eq!(admitted.status(), StatusCode::OK, "the API server's route needs no token");
    running.shutdown().await;
}

#[tokio::test]
async fn loopback_is_open_unless_a_token_is_configured() {
    let (open, client, base) = start("127.0.0.1:0", None).await;
    assert_eq!(open.read_token(), None);
    assert_eq!(status(&client, format!("{base}/v1/audit"), None).await, StatusCode::OK);
    open.shutdown().await;

    let (guarded, client, base) = start("127.0.0.1:0", Some("configured")).await;
    assert_eq!(status(&client, format!("{base}/v1/denials"), None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&client, format!("{base}/v1/denials"), Some("configured")).await, StatusCode::OK);
    guarded.shutdown().await;
}
