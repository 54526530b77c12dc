//! The admin API's credential: open on a loopback-only listener, a bearer token as soon as the
//! listener is reachable from other hosts, or whenever one is configured (contracts §10).

mod common;

use azure_sim::SimConfig;
use common::*;
use serde_json::json;

/// Mints a subscription through the admin API with `token` as the bearer (or none).
async fn mint(w: &World, token: Option<&str>) -> Resp {
    w.arm.with_token(token.map(str::to_string)).post_json("/admin/subscriptions", json!({"displayName": "x"})).await
}

#[tokio::test]
async fn a_listener_beyond_loopback_requires_the_generated_token() {
    let w = world_with(SimConfig { addr: "0.0.0.0:0".parse().unwrap(), ..SimConfig::default() }).await;
    let token = w.sim.admin_token().expect("a non-loopback listener gets a generated admin token").to_string();
    assert!(token.len() >= 32, "token too short to be a secret: {token}");

    let refused = mint(&w, None).await;
    assert_eq!((refused.status, refused.code()), (401, "AuthenticationFailed"));
    assert_eq!(refused.header("www-authenticate"), Some(contracts::credential::CHALLENGE));
    let wrong = mint(&w, Some("not-the-token")).await;
    assert_eq!((wrong.status, wrong.code()), (401, "AuthenticationFailed"));
    // Another subscription's ARM token is not an admin credential either.
    assert_eq!(mint(&w, w.arm.token.as_deref()).await.status, 401);
    for path in ["/admin/faults", "/admin/reports?clusterId=x"] {
        assert_eq!(w.arm.with_token(None).get(path).await.status, 401, "{path}");
    }

    let minted = mint(&w, Some(&token)).await;
    assert_eq!(minted.status, 201, "{:?}", minted.body);
    assert!(minted.body["clientSecret"].is_string());
    // ARM itself keeps its own authentication and is unaffected.
    assert_eq!(w.arm.get("/tenants").await.status, 200);
}

#[tokio::test]
async fn a_loopback_listener_is_open_unless_a_token_is_configured() {
    let open = world().await;
    assert_eq!(open.sim.admin_token(), None);
    assert_eq!(mint(&open, None).await.status, 201);

    let configured = world_with(SimConfig { admin_token: Some("chosen-token".into()), ..SimConfig::default() }).await;
    assert_eq!(configured.sim.admin_token(), Some("chosen-token"));
    assert_eq!(mint(&configured, None).await.status, 401);
    assert_eq!(mint(&configured, Some("chosen-token")).await.status, 201);
}
