//! The real HTTPS server (rustls, ring) in-process, without an API server: the nine built-in
//! policies, AdmissionReviews over TLS, limits, audit and the denial feed.

mod common;

use common::*;
use policy_webhook::{TlsSource, WebhookOptions};
use serde_json::{Value, json};

async fn start_nine() -> (policy_webhook::RunningWebhook, reqwest::Client) {
    pki::install_ring_provider();
    let pki = test_pki();
    let options = WebhookOptions::new(TlsSource::Pem { cert: pki.cert_pem, key: pki.key_pem });
    let running = policy_webhook::start(options, None, engine_with_nine()).await.unwrap();
    (running, https_client(&pki.ca_pem))
}

async fn admit(client: &reqwest::Client, url: &str, review: &Value) -> Value {
    let resp = client.post(url).json(review).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn reviews_over_tls_with_the_nine_policies() {
    let (running, client) = start_nine().await;
    let url = running.admit_url();
    let ok = admit(&client, &url, &review_for("u-ok", "pods", "", &compliant_pod("team", "good"))).await;
    assert_eq!(
        ok["response"],
        json!({"uid": "u-ok", "allowed": true, "status": {"reason": "valid based on configured policies"}})
    );

    let denied = admit(&client, &url, &review_for("u-bad", "pods", "", &privileged_pod("team", "bad"))).await;
    assert_eq!(denied["response"]["uid"], "u-bad");
    assert_eq!(denied["response"]["allowed"], false);
    let message = denied["response"]["status"]["message"].as_str().unwrap();
    // The reference's five violations: limits, image, port 80, privileged, missing label test2.
    assert_eq!(message.matches("The operation was disallowed by policy").count(), 5, "{message}");
    assert!(message.contains("privileged"), "{message}");

    let in_kube_system =
        admit(&client, &url, &review_for("u-ks", "pods", "", &privileged_pod("kube-system", "bad"))).await;
    assert_eq!(in_kube_system["response"]["allowed"], true);

    let denials: Value =
        client.get(format!("{}/v1/denials", running.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(denials["denials"].as_array().unwrap().len(), 1);
    assert_eq!(denials["denials"][0]["violations"].as_array().unwrap().len(), 5);
    running.shutdown().await;
}

#[tokio::test]
async fn oversized_body_is_400_and_the_server_keeps_serving() {
    let (running, client) = start_nine().await;
    let mut review = review_for("u-big", "pods", "", &compliant_pod("team", "big"));
    review["request"]["object"]["metadata"]["annotations"] = json!({"filler": "x".repeat(3 * 1024 * 1024)});
    let resp = client.post(running.admit_url()).json(&review).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("exceeds the limit of 3145728 bytes"));
    let resp = client.post(running.admit_url()).body("{\"kind\":").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let ok =
        admit(&client, &running.admit_url(), &review_for("u-after", "pods", "", &compliant_pod("team", "a"))).await;
    assert_eq!(ok["response"]["uid"], "u-after");
    running.shutdown().await;
}

#[tokio::test]
async fn audit_metrics_and_health_over_tls() {
    let (running, client) = start_nine().await;
    running.state().engine.update(|e| e.upsert_object("pods", Some("team"), "p9", privileged_pod("team", "p9")));
    let base = running.base_url();
    let audit: Value = client.get(format!("{base}/v1/audit")).send().await.unwrap().json().await.unwrap();
    assert_eq!(audit["message"], "total violations:5");
    assert!(audit["violations"].as_array().unwrap().iter().all(|v| v["resource"]["name"] == "p9"));
    for path in ["/healthz", "/readyz"] {
        assert_eq!(client.get(format!("{base}{path}")).send().await.unwrap().status(), 200, "{path}");
    }
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("policy_webhook_violations 5"), "{metrics}");
    running.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_client_cannot_talk_to_it() {
    let (running, _) = start_nine().await;
    let other = https_client(&test_pki().ca_pem);
    assert!(other.get(format!("{}/healthz", running.base_url())).send().await.is_err());
    running.shutdown().await;
}
