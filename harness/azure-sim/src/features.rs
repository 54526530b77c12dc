//! Preview features (Microsoft.Features, api-version 2015-12-01). The 2019 limited preview needed
//! manual approval, so a registration waits in `Pending` (users saw this for days) until an admin
//! approves it, unless the server runs with auto-approval. Names compare case-insensitively because
//! the docs themselves spelled `AKS-DataplaneAutoApprove` two ways.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::ids::key;
use crate::providers;
use crate::request::{ArmRequest, json};
use crate::state::{FeatureReg, RegState, SimState};

/// Gates installing the add-on on a managed cluster.
pub const AZURE_POLICY_FEATURE: (&str, &str) = ("Microsoft.ContainerService", "AKS-AzurePolicyAutoApprove");
/// Gates the add-on's dataplane calls (assignments, compliance reports).
pub const DATAPLANE_FEATURE: (&str, &str) = ("Microsoft.PolicyInsights", "AKS-DataplaneAutoApprove");

fn feature_key(namespace: &str, name: &str) -> String {
    key(&format!("{namespace}/{name}"))
}

/// Both preview features, `NotRegistered`.
pub fn initial() -> BTreeMap<String, FeatureReg> {
    [AZURE_POLICY_FEATURE, DATAPLANE_FEATURE]
        .iter()
        .map(|(ns, name)| {
            let reg = FeatureReg {
                namespace: (*ns).into(),
                name: (*name).into(),
                state: RegState::NotRegistered,
                registered_seq: 0,
            };
            (feature_key(ns, name), reg)
        })
        .collect()
}

fn body(subscription: &str, f: &FeatureReg) -> Value {
    json!({
        "id": format!("/subscriptions/{subscription}/providers/Microsoft.Features/providers/{}/features/{}", f.namespace, f.name),
        "name": format!("{}/{}", f.namespace, f.name),
        "type": "Microsoft.Features/providers/features",
        "properties": { "state": f.state.as_str() },
    })
}

fn not_found(namespace: &str, name: &str) -> ArmError {
    ArmError::not_found(
        "FeatureNotFound",
        format!("The feature '{name}' could not be found in namespace '{namespace}'."),
    )
}

/// Why a gated action is refused: the feature is not `Registered`, or (with `provider_after`)
/// its provider was not re-registered after approval. `None` when the action may go ahead.
pub fn gate_refusal(
    state: &SimState,
    subscription: &str,
    feature: (&str, &str),
    provider_after: bool,
) -> Option<String> {
    let s = state.subscription(subscription)?;
    let (ns, name) = feature;
    let f = s.features.get(&feature_key(ns, name));
    let current = f.map_or(RegState::NotRegistered, |f| f.state);
    if current != RegState::Registered {
        return Some(format!(
            "The subscription '{sub}' is not registered for the preview feature '{ns}/{name}' (state: {st}). \
             Register it with 'az feature register --namespace {ns} --name {name}', wait until it is \
             Registered, then run 'az provider register --namespace {ns}'.",
            sub = s.id,
            st = current.as_str()
        ));
    }
    let approved_seq = f.map_or(0, |f| f.registered_seq);
    let provider = s.providers.get(&key(ns));
    let re_registered = provider.is_some_and(|p| {
        p.register_seq > approved_seq && providers::effective(p, chrono::Utc::now()) == RegState::Registered
    });
    (provider_after && !re_registered).then(|| {
        format!(
            "The preview feature '{ns}/{name}' is Registered on subscription '{sub}', but the change has not \
             propagated: run 'az provider register --namespace {ns}' and wait until the provider is Registered.",
            sub = s.id
        )
    })
}

/// `GET …/Microsoft.Features/features` and `GET …/Microsoft.Features/providers/{ns}/features`.
pub fn list(app: &SharedApp, req: &ArmRequest, namespace: Option<&str>) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let value: Vec<Value> = app.store.read(|state| {
        let Some(s) = state.subscription(&req.segs[1]) else { return Vec::new() };
        let wanted = |f: &&FeatureReg| namespace.is_none_or(|ns| f.namespace.eq_ignore_ascii_case(ns));
        s.features.values().filter(wanted).map(|f| body(&s.id, f)).collect()
    });
    Ok(json(StatusCode::OK, json!({ "value": value })))
}

/// `GET …/Microsoft.Features/providers/{ns}/features/{name}`.
pub fn get(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let (sub, ns, name) = (&req.segs[1], &req.segs[5], &req.segs[7]);
    let found = app.store.read(|state| {
        let s = state.subscription(sub)?;
        s.features.get(&feature_key(ns, name)).map(|f| body(&s.id, f))
    });
    found.map(|b| json(StatusCode::OK, b)).ok_or_else(|| not_found(ns, name))
}

/// `POST …/features/{name}/register|unregister`.
pub fn action(app: &SharedApp, req: &ArmRequest, action: &str) -> ArmResult<Response> {
    let register = providers::is_register(req, action)?;
    let (sub, ns, name) = (&req.segs[1], &req.segs[5], &req.segs[7]);
    let info = providers::catalog(ns).ok_or_else(|| {
        ArmError::not_found("InvalidResourceNamespace", format!("The resource namespace '{ns}' is invalid."))
    })?;
    let auto_approve = app.config.auto_approve_features;
    let result = app.store.write(|state| {
        let seq = state.next_seq();
        let s = state.subscription_mut(sub).ok_or_else(|| not_found(ns, name))?;
        let f = s.features.entry(feature_key(ns, name)).or_insert_with(|| FeatureReg {
            namespace: info.namespace.into(),
            name: name.clone(),
            state: RegState::NotRegistered,
            registered_seq: 0,
        });
        match (register, f.state) {
            (true, RegState::Registered | RegState::Pending) => {}
            (true, _) if auto_approve => {
                f.state = RegState::Registered;
                f.registered_seq = seq;
            }
            (true, _) => f.state = RegState::Pending,
            (false, _) => f.state = RegState::Unregistered,
        }
        Ok::<_, ArmError>(body(&s.id, f))
    })?;
    Ok(json(StatusCode::OK, result))
}

/// Approves a `Pending` feature (the admin action standing in for Microsoft's manual approval).
/// Approving a `Registered` feature is a no-op; anything else must be registered first.
pub fn approve(state: &mut SimState, subscription: &str, namespace: &str, name: &str) -> ArmResult<RegState> {
    let seq = state.next_seq();
    let s = state.subscription_mut(subscription).ok_or_else(|| {
        ArmError::not_found("SubscriptionNotFound", format!("The subscription '{subscription}' could not be found."))
    })?;
    let f = s.features.get_mut(&feature_key(namespace, name)).ok_or_else(|| not_found(namespace, name))?;
    match f.state {
        RegState::Pending => {
            f.state = RegState::Registered;
            f.registered_seq = seq;
            Ok(f.state)
        }
        RegState::Registered => Ok(f.state),
        other => Err(ArmError::conflict(
            "FeatureNotPending",
            format!("The feature '{namespace}/{name}' is {}; register it before approving it.", other.as_str()),
        )),
    }
}
