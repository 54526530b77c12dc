//! Managed clusters (Microsoft.ContainerService) and the `azurepolicy` add-on switch.
//!
//! `az aks enable-addons` GETs the cluster and PUTs the whole body back with
//! `addonProfiles.azurepolicy.enabled` flipped and the service principal nulled out, so a PUT is a
//! merge: nulled or omitted fields keep their stored values. The PUT answers at once with a non-terminal
//! `provisioningState` and an `Azure-AsyncOperation` URL; the add-on controller then installs or
//! uninstalls in the background and the operation ends `Succeeded`, or `Failed` with its error.

use axum::http::{Method, StatusCode, header::HeaderName};
use axum::response::{IntoResponse, Response};
use contracts::AddonGeneration;
use serde_json::{Map, Value, json};

use crate::addon::{AddonFailure, AddonInstall};
use crate::app::SharedApp;
use crate::auth::new_principal;
use crate::error::{ArmError, ArmResult, kind_of};
use crate::features::{AZURE_POLICY_FEATURE, gate_refusal};
use crate::ids::{self, key};
use crate::request::{ArmRequest, json};
use crate::state::{ManagedCluster, OperationError, SimState};
use crate::{lro, providers, resource_groups};

const NAMESPACE: &str = "Microsoft.ContainerService";
const TYPE: &str = "Microsoft.ContainerService/ManagedClusters";
/// What AKS defaulted to in late 2019.
const DEFAULT_VERSION: &str = "1.14.8";

/// The `azurepolicy` entry of `addonProfiles`, whatever its key's casing.
pub fn azurepolicy_profile(properties: &Value) -> Option<&Value> {
    properties
        .get("addonProfiles")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("azurepolicy"))
        .map(|(_, v)| v)
}

/// Whether a cluster body asks for the add-on.
pub fn azurepolicy_enabled(body: &Value) -> bool {
    azurepolicy_profile(&body["properties"]).and_then(|p| p.get("enabled")).and_then(Value::as_bool) == Some(true)
}

/// `major.minor` of a Kubernetes version, if it parses.
fn minor_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

fn cluster_key(rg: &str, name: &str) -> String {
    key(&format!("{rg}/{name}"))
}

/// `GET …/managedClusters` at subscription or resource-group scope.
pub fn list(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let rg = (req.lower[2] == "resourcegroups").then(|| req.segs[3].clone());
    let value: Vec<Value> = app.store.read(|state| {
        if let Some(rg) = &rg {
            resource_groups::require(state, &req.segs[1], rg)?;
        }
        let s = state.subscription(&req.segs[1]);
        let in_scope = |c: &&ManagedCluster| rg.as_ref().is_none_or(|rg| ids::eq(rg, &c.resource_group));
        Ok::<_, ArmError>(
            s.map(|s| s.clusters.values().filter(in_scope).map(|c| c.body.clone()).collect()).unwrap_or_default(),
        )
    })?;
    Ok(json(StatusCode::OK, json!({ "value": value })))
}

/// `GET|PUT|DELETE …/managedClusters/{name}`.
pub async fn route(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let (sub, rg, name) = (&req.segs[1], &req.segs[3], &req.segs[7]);
    let existing = app.store.read(|state| state.subscription(sub)?.clusters.get(&cluster_key(rg, name)).cloned());
    match (&req.method, existing) {
        (&Method::GET, Some(c)) => Ok(json(StatusCode::OK, c.body)),
        (&Method::GET, None) => Err(ArmError::resource_not_found(&format!("{NAMESPACE}/managedClusters"), name, rg)),
        (&Method::PUT, existing) => put(app, req, existing),
        (&Method::DELETE, None) => Ok(StatusCode::NO_CONTENT.into_response()),
        (&Method::DELETE, Some(c)) => delete(app, req, c),
        _ => Err(req.method_not_allowed()),
    }
}

fn busy(existing: &ManagedCluster) -> ArmResult<()> {
    let state = existing.body["properties"]["provisioningState"].as_str().unwrap_or("Succeeded");
    if is_terminal(state) {
        return Ok(());
    }
    Err(ArmError::conflict(
        "OperationNotAllowed",
        format!(
            "Operation is not allowed because there's an in progress {} operation on the managed cluster.",
            state.to_lowercase()
        ),
    ))
}

/// Validates `addonProfiles` entries: `enabled` a boolean, `config` null or string→string.
fn validate_addons(properties: &Map<String, Value>) -> ArmResult<()> {
    let Some(addons) = properties.get("addonProfiles").filter(|v| !v.is_null()) else { return Ok(()) };
    let addons = addons
        .as_object()
        .ok_or_else(|| ArmError::bad_request("InvalidParameter", "addonProfiles must be an object."))?;
    for (name, profile) in addons {
        let enabled_ok = profile.get("enabled").is_none_or(Value::is_boolean);
        let config_ok = profile
            .get("config")
            .is_none_or(|c| c.is_null() || c.as_object().is_some_and(|m| m.values().all(Value::is_string)));
        if !profile.is_object() || !enabled_ok || !config_ok {
            return Err(ArmError::bad_request(
                "InvalidParameter",
                format!("addonProfiles.{name} must be {{\"enabled\": <bool>, \"config\": <null or string map>}}."),
            ));
        }
    }
    Ok(())
}

/// Builds the stored body from the request, keeping what the CLI nulls out and filling defaults.
fn merged_body(req: &ArmRequest, incoming: Map<String, Value>, existing: Option<&ManagedCluster>) -> ArmResult<Value> {
    let (sub, rg, name) = (&req.segs[1], &req.segs[3], &req.segs[7]);
    let old = existing.map(|c| &c.body);
    let location = old
        .and_then(|b| b["location"].as_str().map(str::to_string))
        .or_else(|| incoming.get("location").and_then(Value::as_str).filter(|l| !l.is_empty()).map(str::to_string));
    let location = location.ok_or_else(|| {
        ArmError::bad_request("LocationRequired", "The location property is required for this definition.")
    })?;
    let incoming_props = match incoming.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            return Err(ArmError::invalid_content(format!("properties must be an object, found {}", kind_of(other))));
        }
    };
    validate_addons(&incoming_props)?;
    // Start from what is stored and overlay every non-null field sent: a null (the CLI's nulled-out
    // service principal) or an omitted field keeps the stored value.
    let mut props = old.and_then(|b| b["properties"].as_object()).cloned().unwrap_or_default();
    props.extend(incoming_props.into_iter().filter(|(_, v)| !v.is_null()));
    let dns_prefix = props
        .get("dnsPrefix")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map_or_else(|| format!("{name}-dns"), str::to_string);
    let defaults = [
        ("kubernetesVersion", json!(DEFAULT_VERSION)),
        ("servicePrincipalProfile", json!({"clientId": "msi"})),
        (
            "agentPoolProfiles",
            json!([{"name": "nodepool1", "count": 3, "vmSize": "Standard_DS2_v2", "osType": "Linux"}]),
        ),
        ("fqdn", json!(format!("{}.hcp.{}.azmk8s.io", key(&dns_prefix), key(&location).replace(' ', "")))),
        ("dnsPrefix", json!(dns_prefix)),
        ("nodeResourceGroup", json!(format!("MC_{rg}_{name}_{location}"))),
        ("enableRBAC", json!(true)),
        ("networkProfile", json!({"networkPlugin": "kubenet"})),
        ("addonProfiles", json!({})),
    ];
    // An empty string means "the default" too: `az aks create` sends `"kubernetesVersion": ""`.
    for (field, value) in defaults {
        if props.get(field).is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
            props.insert(field.to_string(), value);
        }
    }
    if !props["kubernetesVersion"].is_string() {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            "kubernetesVersion must be a string such as \"1.14.8\".",
        ));
    }
    let mut body = Map::new();
    for (k, v) in incoming.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "name" | "type" | "properties")) {
        body.insert(k.clone(), v.clone());
    }
    let id = existing.map_or_else(
        || format!("/subscriptions/{sub}/resourcegroups/{rg}/providers/{NAMESPACE}/managedClusters/{name}"),
        |c| c.id.clone(),
    );
    let tags = incoming.get("tags").filter(|t| t.is_object()).or(old.map(|b| &b["tags"])).cloned().unwrap_or(json!({}));
    body.extend([
        ("id".into(), json!(id)),
        ("name".into(), json!(existing.map_or(name.as_str(), |c| c.name.as_str()))),
        ("type".into(), json!(TYPE)),
        ("location".into(), json!(location)),
        ("tags".into(), tags),
        ("properties".into(), Value::Object(props)),
    ]);
    Ok(Value::Object(body))
}

/// Refuses enabling the add-on on Kubernetes older than 1.10, or, for the 2019 preview, before the
/// preview opt-in. Today's add-on is generally available: no preview feature gates it.
fn check_addon_allowed(state: &SimState, subscription: &str, body: &Value) -> ArmResult<()> {
    let version = body["properties"]["kubernetesVersion"].as_str().unwrap_or_default();
    if minor_version(version).is_none_or(|v| v < (1, 10)) {
        return Err(ArmError::bad_request(
            "AddonNotSupportedForKubernetesVersion",
            format!("The azurepolicy add-on requires Kubernetes 1.10 or later; the cluster runs '{version}'."),
        ));
    }
    if state.addon_generation(subscription) == AddonGeneration::Current {
        return Ok(());
    }
    match gate_refusal(state, subscription, AZURE_POLICY_FEATURE, true) {
        Some(message) => Err(ArmError::bad_request(
            "AddonFeatureNotRegistered",
            format!("Cannot enable the azurepolicy add-on. {message}"),
        )),
        None => Ok(()),
    }
}

/// What the background task has to do with the add-on.
enum AddonChange {
    Install(Box<AddonInstall>),
    Uninstall(String),
    None,
}

fn put(app: &SharedApp, req: &ArmRequest, existing: Option<ManagedCluster>) -> ArmResult<Response> {
    let (sub, rg, name) = (req.segs[1].clone(), req.segs[3].clone(), req.segs[7].clone());
    let incoming = req.json_object()?;
    let mut body = merged_body(req, incoming, existing.as_ref())?;
    let created = existing.is_none();
    let (op_id, change) = app.store.write(|state| {
        providers::require_registered(state, &sub, NAMESPACE)?;
        resource_groups::require(state, &sub, &rg)?;
        let current = state.subscription(&sub).and_then(|s| s.clusters.get(&cluster_key(&rg, &name))).cloned();
        if let Some(c) = &current {
            busy(c)?;
        }
        let installed = current.as_ref().is_some_and(|c| c.addon_installed);
        let wants = azurepolicy_enabled(&body);
        if wants && !installed {
            check_addon_allowed(state, &sub, &body)?;
        }
        body["properties"]["provisioningState"] = json!(if created { "Creating" } else { "Updating" });
        let mut cluster = current.unwrap_or_else(|| ManagedCluster {
            id: body["id"].as_str().unwrap_or_default().to_string(),
            resource_group: rg.clone(),
            name: name.clone(),
            body: Value::Null,
            addon_installed: false,
            addon_client_id: None,
        });
        cluster.body = body.clone();
        let change = match (wants, installed) {
            (true, false) => AddonChange::Install(Box::new(install_request(app, state, &mut cluster, &sub))),
            (false, true) => AddonChange::Uninstall(cluster.id.clone()),
            _ => AddonChange::None,
        };
        let op_id = lro::start(state, &sub);
        if let Some(s) = state.subscription_mut(&sub) {
            s.clusters.insert(cluster_key(&rg, &name), cluster);
        }
        Ok::<_, ArmError>((op_id, change))
    })?;
    let location = body["location"].as_str().unwrap_or("westus2").replace(' ', "").to_lowercase();
    let async_url = lro::status_url(req, NAMESPACE, &location, &op_id);
    run_change(app, op_id, change, (sub, cluster_key(&rg, &name)));
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let response = json(status, body);
    let response = lro::with_header(response, HeaderName::from_static("azure-asyncoperation"), &async_url);
    Ok(lro::retry_after(response))
}

/// The controller's install request; mints (once per cluster) the add-on's service principal.
fn install_request(app: &SharedApp, state: &mut SimState, cluster: &mut ManagedCluster, sub: &str) -> AddonInstall {
    let principal = match cluster.addon_client_id.as_ref().and_then(|id| state.principals.get(id)) {
        Some(p) => p.clone(),
        None => new_principal(state, vec![key(sub)]),
    };
    cluster.addon_client_id = Some(principal.client_id.clone());
    let config = azurepolicy_profile(&cluster.body["properties"]).map(|p| p["config"].clone()).unwrap_or(Value::Null);
    AddonInstall {
        cluster_id: cluster.id.clone(),
        dataplane_endpoint: app.base_url().to_string(),
        ca_pem: app.ca_pem.clone(),
        tenant_id: state.tenant_id.clone(),
        client_id: principal.client_id,
        client_secret: principal.secret,
        config,
        generation: state.addon_generation(sub),
    }
}

/// Runs the add-on change in the background and settles the cluster's provisioning state.
fn run_change(app: &SharedApp, op_id: String, change: AddonChange, (sub, ckey): (String, String)) {
    let controller = app.controller.clone();
    // Some(true): installs, Some(false): uninstalls, None: leaves the add-on alone.
    let target = match &change {
        AddonChange::Install(_) => Some(true),
        AddonChange::Uninstall(_) => Some(false),
        AddonChange::None => None,
    };
    let work = async move {
        match change {
            AddonChange::Install(req) => controller.install(&req).await.map_err(AddonFailure::Install),
            AddonChange::Uninstall(id) => controller.uninstall(&id).await.map_err(AddonFailure::Uninstall),
            AddonChange::None => Ok(()),
        }
    };
    lro::spawn(app, op_id, work, move |state, result| {
        let cluster = state.subscription_mut(&sub).and_then(|s| s.clusters.get_mut(&ckey));
        let Some(cluster) = cluster else { return Ok(None) };
        let outcome = match result {
            Ok(()) => {
                cluster.addon_installed = target.unwrap_or(cluster.addon_installed);
                Ok(None)
            }
            Err(failure) => Err(OperationError::from(failure)),
        };
        let final_state = if outcome.is_ok() { "Succeeded" } else { "Failed" };
        cluster.body["properties"]["provisioningState"] = json!(final_state);
        outcome
    });
}

fn delete(app: &SharedApp, req: &ArmRequest, cluster: ManagedCluster) -> ArmResult<Response> {
    busy(&cluster)?;
    let sub = req.segs[1].clone();
    let ckey = cluster_key(&cluster.resource_group, &cluster.name);
    let op_id = app.store.write(|state| {
        if let Some(c) = state.subscription_mut(&sub).and_then(|s| s.clusters.get_mut(&ckey)) {
            c.body["properties"]["provisioningState"] = json!("Deleting");
        }
        lro::start(state, &sub)
    });
    let location = cluster.body["location"].as_str().unwrap_or("westus2").replace(' ', "").to_lowercase();
    let controller = app.controller.clone();
    let (installed, cluster_id) = (cluster.addon_installed, cluster.id.clone());
    let work = async move {
        if installed { controller.uninstall(&cluster_id).await.map_err(AddonFailure::Uninstall) } else { Ok(()) }
    };
    lro::spawn(app, op_id.clone(), work, move |state, result| {
        let s = state.subscription_mut(&sub).ok_or_else(|| OperationError::new("NotFound", "subscription vanished"))?;
        if let Err(failure) = result {
            if let Some(c) = s.clusters.get_mut(&ckey) {
                c.body["properties"]["provisioningState"] = json!("Failed");
            }
            return Err(failure.into());
        }
        s.clusters.remove(&ckey);
        state.latest.retain(|_, l| !ids::eq(&l.cluster_id, &cluster.id));
        Ok(None)
    });
    let result_url = lro::result_url(req, NAMESPACE, &location, &op_id);
    Ok(lro::accepted(&result_url, Some(&lro::status_url(req, NAMESPACE, &location, &op_id))))
}
