//! Subscriptions and the tenant: what `az login` lists, and the access boundary every ARM call is
//! checked against. Each scenario gets its own subscription (and owner principal), so scenarios
//! running side by side cannot see each other's resources.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use contracts::AddonGeneration;
use serde_json::{Value, json};

use crate::app::SharedApp;
use crate::auth::{new_principal, random_hex};
use crate::error::{ArmError, ArmResult};
use crate::ids::key;
use crate::request::{ArmRequest, json};
use crate::state::{Principal, SimState, Subscription};
use crate::{features, providers};

/// A subscription and the credentials of its owner principal.
#[derive(Debug, Clone)]
pub struct SubscriptionCredentials {
    pub subscription_id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// A fresh state: one tenant, one default subscription (on `generation`), its owner and a user for
/// password logins.
pub fn initial_state(generation: AddonGeneration) -> SimState {
    let mut state = SimState {
        tenant_id: uuid::Uuid::new_v4().to_string(),
        signing_key: random_hex(),
        default_subscription: String::new(),
        default_client_id: String::new(),
        seq: 0,
        subscriptions: BTreeMap::new(),
        principals: BTreeMap::new(),
        assignments: BTreeMap::new(),
        operations: BTreeMap::new(),
        reports: Vec::new(),
        latest: BTreeMap::new(),
        tls: None,
    };
    let creds = create(&mut state, "Azure Sim Default", generation);
    state.default_subscription = creds.subscription_id;
    state.default_client_id = creds.client_id.clone();
    // A user for `az login -u`: same secret as the owner, access to the default subscription.
    let user = Principal {
        client_id: uuid::Uuid::new_v4().to_string(),
        secret: creds.client_secret,
        username: Some("admin@azuresim.local".to_string()),
        subscriptions: vec![key(&state.default_subscription)],
    };
    state.principals.insert(user.client_id.clone(), user);
    state
}

/// Creates a subscription with every provider and feature in its initial state, and its owner; its
/// clusters get the add-on of `generation`.
pub fn create(state: &mut SimState, display_name: &str, generation: AddonGeneration) -> SubscriptionCredentials {
    let id = uuid::Uuid::new_v4().to_string();
    let owner = new_principal(state, vec![key(&id)]);
    let subscription = Subscription {
        id: id.clone(),
        display_name: display_name.to_string(),
        owner_client_id: owner.client_id.clone(),
        providers: providers::initial(),
        features: features::initial(),
        resource_groups: BTreeMap::new(),
        clusters: BTreeMap::new(),
        definitions: BTreeMap::new(),
        addon_generation: generation,
    };
    state.subscriptions.insert(key(&id), subscription);
    SubscriptionCredentials {
        subscription_id: id,
        tenant_id: state.tenant_id.clone(),
        client_id: owner.client_id,
        client_secret: owner.secret,
    }
}

fn subscription_body(state: &SimState, s: &Subscription) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.id), "subscriptionId": s.id, "tenantId": state.tenant_id,
        "displayName": s.display_name, "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "AzureSim_2019", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
    })
}

/// 404 `SubscriptionNotFound` for unknown subscriptions, 403 for ones the caller may not use.
pub fn authorize(app: &SharedApp, req: &ArmRequest) -> ArmResult<()> {
    let sub = &req.segs[1];
    let exists = app.store.read(|state| state.subscription(sub).is_some());
    if !exists {
        return Err(ArmError::not_found(
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ));
    }
    let action = format!("{}/{}", req.segs.get(3).map_or("Microsoft.Resources", String::as_str), req.method);
    req.caller.authorize(sub, &action, &req.path_id())
}

/// `GET /subscriptions`: the subscriptions the caller can use.
pub fn list(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let value: Vec<Value> = app.store.read(|state| {
        req.caller
            .subscriptions
            .iter()
            .filter_map(|id| state.subscription(id))
            .map(|s| subscription_body(state, s))
            .collect()
    });
    Ok(json(StatusCode::OK, json!({ "value": value })))
}

/// `GET /subscriptions/{id}`.
pub fn get(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let body = app.store.read(|state| state.subscription(&req.segs[1]).map(|s| subscription_body(state, s)));
    Ok(json(StatusCode::OK, body.unwrap_or_default()))
}

/// `GET /tenants`: the one tenant.
pub fn tenants(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let tenant = app.store.read(|state| state.tenant_id.clone());
    Ok(json(
        StatusCode::OK,
        json!({"value": [{
            "id": format!("/tenants/{tenant}"), "tenantId": tenant, "tenantCategory": "Home",
            "displayName": "Azure Sim", "defaultDomain": "azuresim.local", "domains": ["azuresim.local"],
        }]}),
    ))
}
