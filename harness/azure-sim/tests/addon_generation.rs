//! Which add-on a subscription's clusters get (design point 6): today's add-on by default, enabled
//! without any preview feature because it is generally available; the 2019 preview only behind its
//! feature gate, per server (`SimConfig::addon_generation`) or per subscription
//! (`RunningSim::set_addon_generation`).

mod common;

use std::sync::Arc;

use azure_sim::{AddonGeneration, AzureSim, NoopAddonController, SimConfig};
use common::*;

fn enc(s: &str) -> String {
    s.replace('/', "%2F")
}

/// Registers only the provider AKS itself needs; no preview feature.
async fn register_container_service(w: &World) {
    let r = w.arm.post(&format!("/subscriptions/{}/providers/{CONTAINER_SERVICE}/register", w.sub)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn todays_addon_needs_no_preview_feature_and_is_what_gets_installed() {
    let w = world_with(SimConfig::default()).await;
    assert_eq!(w.sim.addon_generation(&w.sub).unwrap(), AddonGeneration::Current);
    register_container_service(&w).await;
    let op = w.cluster("rg", "c", true).await;
    assert_eq!(op.body["status"], "Succeeded", "{:?}", op.body);
    let installs = w.controller.installs.lock().unwrap().clone();
    assert_eq!(installs.len(), 1);
    assert_eq!(installs[0].generation, AddonGeneration::Current);
    // Its dataplane is not gated either.
    let url = format!("/dataplane/v1/assignments?clusterId={}", enc(&w.cluster_id("rg", "c")));
    let r = w.arm.get(&url).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn the_2019_preview_stays_behind_its_feature_gate() {
    let w = world_with(preview_2019()).await;
    register_container_service(&w).await;
    let r = w.cluster("rg", "c", true).await;
    assert_eq!((r.status, r.code()), (400, "AddonFeatureNotRegistered"), "{:?}", r.body);
    assert!(w.controller.installs.lock().unwrap().is_empty());

    // One subscription moved to today's add-on enables at once; the server default is unchanged.
    w.sim.set_addon_generation(&w.sub, AddonGeneration::Current).unwrap();
    assert_eq!(w.cluster("rg", "c", true).await.body["status"], "Succeeded");
    assert_eq!(w.controller.installs.lock().unwrap()[0].generation, AddonGeneration::Current);
    let other = w.sim.new_subscription("other");
    assert_eq!(w.sim.addon_generation(&other.subscription_id).unwrap(), AddonGeneration::Preview2019);
}

#[tokio::test]
async fn a_subscription_put_on_the_preview_installs_the_preview_after_opting_in() {
    let w = world().await;
    w.sim.set_addon_generation(&w.sub, AddonGeneration::Preview2019).unwrap();
    register_container_service(&w).await;
    assert_eq!(w.cluster("rg", "c", true).await.code(), "AddonFeatureNotRegistered");
    w.opt_in().await;
    assert_eq!(w.cluster("rg", "c", true).await.body["status"], "Succeeded");
    assert_eq!(w.controller.installs.lock().unwrap()[0].generation, AddonGeneration::Preview2019);
    let err = w.sim.set_addon_generation("00000000-0000-0000-0000-000000000000", AddonGeneration::Current);
    assert!(err.unwrap_err().to_string().contains("00000000-0000-0000-0000-000000000000"));
}

#[tokio::test]
async fn a_subscriptions_generation_survives_a_restart() {
    pki::install_ring_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig { state_file: Some(dir.path().join("state.json")), tls: false, ..SimConfig::default() };
    let sim = AzureSim::start(config.clone(), Arc::new(NoopAddonController)).await.unwrap();
    let preview = sim.new_subscription("preview").subscription_id;
    sim.set_addon_generation(&preview, AddonGeneration::Preview2019).unwrap();
    let current = sim.new_subscription("current").subscription_id;
    sim.shutdown().await;

    let sim = AzureSim::start(config, Arc::new(NoopAddonController)).await.unwrap();
    assert_eq!(sim.addon_generation(&preview).unwrap(), AddonGeneration::Preview2019);
    assert_eq!(sim.addon_generation(&current).unwrap(), AddonGeneration::Current);
}
