//! Resource provider registration (Microsoft.Resources). The preview needed
//! `Microsoft.ContainerService` and `Microsoft.PolicyInsights` registered, and re-registered after
//! the preview features were approved; the event counter recorded at each register call is what
//! lets the AKS gate check "registered after approval".
//!
//! `Registering` settles into `Registered` after the configured provider delay. The state is computed
//! from the time on read, so no timer or background task is needed and a restart keeps the timing.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::ids::key;
use crate::request::{ArmRequest, json};
use crate::state::{ProviderReg, RegState, SimState};

/// A namespace the mock knows, with its resource types.
pub struct ProviderInfo {
    pub namespace: &'static str,
    pub resource_types: &'static [&'static str],
    /// Always registered (Microsoft.Resources, Microsoft.Authorization, Microsoft.Features).
    pub registration_free: bool,
}

const CATALOG: &[ProviderInfo] = &[
    ProviderInfo {
        namespace: "Microsoft.ContainerService",
        resource_types: &["managedClusters", "locations", "locations/operations", "locations/operationresults"],
        registration_free: false,
    },
    ProviderInfo {
        namespace: "Microsoft.PolicyInsights",
        resource_types: &["policyStates", "policyEvents", "asyncOperationResults", "operations"],
        registration_free: false,
    },
    ProviderInfo {
        namespace: "Microsoft.Authorization",
        resource_types: &["policyDefinitions", "policySetDefinitions", "policyAssignments"],
        registration_free: true,
    },
    ProviderInfo {
        namespace: "Microsoft.Features",
        resource_types: &["features", "providers"],
        registration_free: true,
    },
    ProviderInfo {
        namespace: "Microsoft.Resources",
        resource_types: &["subscriptions", "resourceGroups", "tenants", "providers"],
        registration_free: true,
    },
];

const API_VERSIONS: &[&str] = &["2019-10-01", "2019-08-01", "2019-06-01", "2019-04-01", "2019-02-01", "2018-05-01"];
const LOCATIONS: &[&str] = &["West US 2", "East US", "West Europe"];

/// Looks a namespace up case-insensitively.
pub fn catalog(namespace: &str) -> Option<&'static ProviderInfo> {
    CATALOG.iter().find(|p| p.namespace.eq_ignore_ascii_case(namespace))
}

/// Registration-free providers start `Registered`, the rest `NotRegistered`.
pub fn initial() -> BTreeMap<String, ProviderReg> {
    CATALOG
        .iter()
        .map(|p| {
            let state = if p.registration_free { RegState::Registered } else { RegState::NotRegistered };
            (key(p.namespace), ProviderReg { namespace: p.namespace.into(), state, settles_at: None, register_seq: 0 })
        })
        .collect()
}

/// The state a registration shows at `now` (transitional states settle after the delay).
pub fn effective(reg: &ProviderReg, now: DateTime<Utc>) -> RegState {
    match (reg.state, reg.settles_at) {
        (RegState::Registering, Some(t)) if now >= t => RegState::Registered,
        (RegState::Unregistering, Some(t)) if now >= t => RegState::Unregistered,
        (state, _) => state,
    }
}

/// 409 `MissingSubscriptionRegistration` unless `namespace` is registered in `subscription`.
pub fn require_registered(state: &SimState, subscription: &str, namespace: &str) -> ArmResult<()> {
    let registered = state
        .subscription(subscription)
        .and_then(|s| s.providers.get(&key(namespace)))
        .is_some_and(|r| effective(r, Utc::now()) == RegState::Registered);
    if registered { Ok(()) } else { Err(ArmError::missing_registration(namespace)) }
}

fn body(subscription: &str, reg: &ProviderReg) -> Value {
    let info = catalog(&reg.namespace);
    let resource_types: Vec<Value> = info
        .map(|i| i.resource_types)
        .unwrap_or_default()
        .iter()
        .map(|t| json!({"resourceType": t, "locations": LOCATIONS, "apiVersions": API_VERSIONS}))
        .collect();
    let policy = if info.is_some_and(|i| i.registration_free) { "RegistrationFree" } else { "RegistrationRequired" };
    json!({
        "id": format!("/subscriptions/{subscription}/providers/{}", reg.namespace),
        "namespace": reg.namespace,
        "registrationState": effective(reg, Utc::now()).as_str(),
        "registrationPolicy": policy,
        "resourceTypes": resource_types,
    })
}

fn unknown_namespace(namespace: &str) -> ArmError {
    ArmError::not_found("InvalidResourceNamespace", format!("The resource namespace '{namespace}' is invalid."))
}

/// `GET /subscriptions/{s}/providers`.
pub fn list(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let sub = &req.segs[1];
    let value: Vec<Value> = app.store.read(|state| {
        state.subscription(sub).map(|s| s.providers.values().map(|r| body(&s.id, r)).collect()).unwrap_or_default()
    });
    Ok(json(StatusCode::OK, json!({ "value": value })))
}

/// `GET /subscriptions/{s}/providers/{ns}`.
pub fn get(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let (sub, ns) = (&req.segs[1], &req.segs[3]);
    let found = app.store.read(|state| {
        let s = state.subscription(sub)?;
        s.providers.get(&key(ns)).map(|r| body(&s.id, r))
    });
    found.map(|b| json(StatusCode::OK, b)).ok_or_else(|| unknown_namespace(ns))
}

/// `true` for a `register` POST, `false` for `unregister` (providers and features share the verbs).
pub fn is_register(req: &ArmRequest, action: &str) -> ArmResult<bool> {
    let register = match action {
        "register" => true,
        "unregister" => false,
        _ => return Err(ArmError::not_found("InvalidResourceType", format!("Unknown action '{action}'."))),
    };
    req.only(Method::POST)?;
    Ok(register)
}

/// `POST /subscriptions/{s}/providers/{ns}/register|unregister`.
pub fn action(app: &SharedApp, req: &ArmRequest, action: &str) -> ArmResult<Response> {
    let register = is_register(req, action)?;
    let (sub, ns) = (&req.segs[1], &req.segs[3]);
    let delay = chrono::Duration::from_std(app.config.provider_delay).unwrap_or_default();
    let result = app.store.write(|state| {
        let seq = state.next_seq();
        let s = state.subscription_mut(sub).ok_or_else(|| unknown_namespace(ns))?;
        let reg = s.providers.get_mut(&key(ns)).ok_or_else(|| unknown_namespace(ns))?;
        if catalog(ns).is_some_and(|i| i.registration_free) {
            return Ok::<_, ArmError>(body(&s.id, reg));
        }
        let (moving, settled) = if register {
            reg.register_seq = seq;
            (RegState::Registering, RegState::Registered)
        } else {
            (RegState::Unregistering, RegState::Unregistered)
        };
        if delay.is_zero() {
            reg.state = settled;
            reg.settles_at = None;
        } else {
            reg.state = moving;
            reg.settles_at = Some(Utc::now() + delay);
        }
        Ok(body(&s.id, reg))
    })?;
    Ok(json(StatusCode::OK, result))
}
