//! Resource groups. Deleting one deletes what is in it, as ARM does: its managed clusters (with
//! their add-ons, through the controller) and the policy assignments scoped inside it.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::addon::AddonFailure;
use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::ids::{self, key};
use crate::lro;
use crate::request::{ArmRequest, json};
use crate::state::{OperationError, ResourceGroup, SimState};

fn body(subscription: &str, rg: &ResourceGroup) -> Value {
    json!({
        "id": format!("/subscriptions/{subscription}/resourceGroups/{}", rg.name),
        "name": rg.name, "type": "Microsoft.Resources/resourceGroups",
        "location": rg.location, "tags": rg.tags,
        "properties": {"provisioningState": "Succeeded"},
    })
}

/// 404 `ResourceGroupNotFound` unless the group exists.
pub fn require(state: &SimState, subscription: &str, name: &str) -> ArmResult<()> {
    let exists = state.subscription(subscription).is_some_and(|s| s.resource_groups.contains_key(&key(name)));
    if exists { Ok(()) } else { Err(ArmError::resource_group_not_found(name)) }
}

/// `GET /subscriptions/{s}/resourceGroups`.
pub fn list(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let value: Vec<Value> = app
        .store
        .read(|state| {
            state.subscription(&req.segs[1]).map(|s| s.resource_groups.values().map(|rg| body(&s.id, rg)).collect())
        })
        .unwrap_or_default();
    Ok(json(StatusCode::OK, json!({ "value": value })))
}

/// `GET|HEAD|PUT|DELETE /subscriptions/{s}/resourceGroups/{rg}`.
pub async fn route(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let (sub, name) = (&req.segs[1], &req.segs[3]);
    let found = app.store.read(|state| {
        let s = state.subscription(sub)?;
        s.resource_groups.get(&key(name)).map(|rg| body(&s.id, rg))
    });
    match req.method {
        Method::GET => found.map(|b| json(StatusCode::OK, b)).ok_or_else(|| ArmError::resource_group_not_found(name)),
        Method::HEAD => {
            Ok(if found.is_some() { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND }.into_response())
        }
        Method::PUT => put(app, req, found.is_some()),
        Method::DELETE if found.is_none() => Ok(StatusCode::NO_CONTENT.into_response()),
        Method::DELETE => delete(app, req),
        _ => Err(req.method_not_allowed()),
    }
}

fn put(app: &SharedApp, req: &ArmRequest, exists: bool) -> ArmResult<Response> {
    let (sub, name) = (&req.segs[1], &req.segs[3]);
    let valid_name =
        name.len() <= 90 && !name.ends_with('.') && name.chars().all(|c| c.is_alphanumeric() || "-_.()".contains(c));
    if !valid_name {
        return Err(ArmError::bad_request(
            "InvalidResourceGroup",
            format!("The provided resource group name '{name}' has these invalid characters or is too long."),
        ));
    }
    let body_in = req.json_object()?;
    let location = match body_in.get("location") {
        Some(Value::String(l)) if !l.is_empty() => l.clone(),
        _ => {
            return Err(ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            ));
        }
    };
    let tags = body_in.get("tags").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let result = app.store.write(|state| {
        let s = state.subscription_mut(sub)?;
        let rg = s.resource_groups.entry(key(name)).or_insert_with(|| ResourceGroup {
            name: name.clone(),
            location: location.clone(),
            tags: json!({}),
        });
        rg.tags = tags;
        Some(body(&s.id, rg))
    });
    let status = if exists { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json(status, result.unwrap_or_default()))
}

fn delete(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let (sub, name) = (req.segs[1].clone(), req.segs[3].clone());
    let rg_id = format!("/subscriptions/{sub}/resourceGroups/{name}");
    let (op_id, installed) = app.store.write(|state| {
        let op_id = lro::start(state, &sub);
        let clusters = state.subscription(&sub).map(|s| s.clusters.values().cloned().collect::<Vec<_>>());
        let installed: Vec<String> = clusters
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.addon_installed && ids::contains(&rg_id, &c.id))
            .map(|c| c.id)
            .collect();
        (op_id, installed)
    });
    let controller = app.controller.clone();
    let work = async move {
        for cluster_id in &installed {
            controller.uninstall(cluster_id).await.map_err(AddonFailure::GroupUninstall)?;
        }
        Ok(())
    };
    let rg = rg_id.clone();
    lro::spawn(app, op_id.clone(), work, move |state, result: Result<(), AddonFailure>| {
        result.map_err(OperationError::from)?;
        remove_group(state, &sub, &name, &rg);
        Ok(None)
    });
    Ok(lro::accepted(&lro::result_url(req, "Microsoft.Resources", "global", &op_id), None))
}

/// Removes a group with its clusters, the assignments scoped inside it and their compliance states.
fn remove_group(state: &mut SimState, subscription: &str, name: &str, rg_id: &str) {
    if let Some(s) = state.subscription_mut(subscription) {
        s.resource_groups.remove(&key(name));
        s.clusters.retain(|_, c| !ids::contains(rg_id, &c.id));
    }
    state.assignments.retain(|_, a| !ids::contains(rg_id, &a.scope));
    let assignments: Vec<String> = state.assignments.keys().cloned().collect();
    state.latest.retain(|_, l| !ids::contains(rg_id, &l.cluster_id) && assignments.contains(&key(&l.assignment_id)));
}
