//! Policy assignments (Microsoft.Authorization/policyAssignments) at subscription, resource-group
//! and resource scope, validated against their definition. Which assignments are *active* for a
//! cluster is decided in one place, `App::active_for_cluster`, since the dataplane and PolicyInsights
//! must agree on it.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::ids::{self, Scope, ScopeKind, key};
use crate::parameters;
use crate::request::{ArmRequest, json};
use crate::resource_groups;
use crate::state::{Assignment, SimState};

const TYPE: &str = "Microsoft.Authorization/policyAssignments";

/// The response body of an assignment.
pub fn body(a: &Assignment) -> Value {
    let mut b = json!({"id": a.id, "name": a.name, "type": TYPE, "properties": a.properties});
    if let Some(location) = &a.location {
        b["location"] = location.clone();
    }
    if let Some(identity) = &a.identity {
        b["identity"] = identity.clone();
    }
    b
}

/// `{scope}/providers/Microsoft.Authorization/policyAssignments[/{name}]`.
pub fn route(app: &SharedApp, req: &ArmRequest, scope: &[String], name: Option<&str>) -> ArmResult<Response> {
    let scope = Scope::parse(scope)?;
    if scope.kind == ScopeKind::Assignment {
        return Err(ArmError::bad_request(
            "InvalidScope",
            "A policy assignment cannot be scoped to another assignment.",
        ));
    }
    let Some(name) = name else { return list(app, req, &scope) };
    let id = format!("{}/providers/Microsoft.Authorization/policyAssignments/{name}", scope.id);
    match req.method {
        Method::GET => app
            .store
            .read(|state| state.assignments.get(&key(&id)).map(body))
            .map(|b| json(StatusCode::OK, b))
            .ok_or_else(|| {
                ArmError::not_found("PolicyAssignmentNotFound", format!("The policy assignment '{name}' is not found."))
            }),
        Method::PUT => put(app, req, &scope, name, id),
        Method::DELETE => {
            let removed = app.store.write(|state| {
                state.latest.retain(|_, l| !ids::eq(&l.assignment_id, &id));
                state.assignments.remove(&key(&id))
            });
            Ok(removed.map_or_else(|| StatusCode::NO_CONTENT.into_response(), |a| json(StatusCode::OK, body(&a))))
        }
        _ => Err(req.method_not_allowed()),
    }
}

fn list(app: &SharedApp, req: &ArmRequest, scope: &Scope) -> ArmResult<Response> {
    req.only(Method::GET)?;
    let filter = req.query("$filter").unwrap_or_default().replace(' ', "").to_ascii_lowercase();
    let keep = |a: &Assignment| match filter.as_str() {
        "atexactscope()" => ids::eq(&a.scope, &scope.id),
        "atscope()" => ids::contains(&a.scope, &scope.id),
        "" => ids::contains(&a.scope, &scope.id) || ids::contains(&scope.id, &a.scope),
        _ => true,
    };
    if !matches!(filter.as_str(), "" | "atscope()" | "atexactscope()") {
        return Err(ArmError::bad_request(
            "InvalidFilterInQueryString",
            "Supported filters are atScope() and atExactScope().",
        ));
    }
    let value: Vec<Value> = app.store.read(|state| {
        state
            .assignments
            .values()
            .filter(|a| ids::eq(&a.subscription, &scope.subscription) && keep(a))
            .map(body)
            .collect()
    });
    Ok(json(StatusCode::OK, json!({ "value": value })))
}

/// 404 unless the scope exists (resource group, or the managed cluster for a resource scope).
fn require_scope(state: &SimState, scope: &Scope) -> ArmResult<()> {
    match (scope.kind, &scope.resource_group) {
        (ScopeKind::ResourceGroup, Some(rg)) => resource_groups::require(state, &scope.subscription, rg),
        (ScopeKind::Resource, Some(rg)) => {
            resource_groups::require(state, &scope.subscription, rg)?;
            match state.cluster_by_id(&scope.id) {
                Some(_) => Ok(()),
                None => {
                    Err(ArmError::not_found("ResourceNotFound", format!("The resource '{}' was not found.", scope.id)))
                }
            }
        }
        _ => Ok(()),
    }
}

fn string_list(value: Option<&Value>, field: &str) -> ArmResult<Vec<Value>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.iter().all(|i| i.as_str().is_some_and(|s| s.starts_with('/'))) => {
            Ok(items.clone())
        }
        Some(_) => {
            Err(ArmError::bad_request("InvalidRequestContent", format!("{field} must be a list of resource ids.")))
        }
    }
}

fn put(app: &SharedApp, req: &ArmRequest, scope: &Scope, name: &str, id: String) -> ArmResult<Response> {
    let body_in = req.json_object()?;
    let props = match body_in.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => return Err(ArmError::invalid_content("properties must be an object")),
    };
    let definition_id = props
        .get("policyDefinitionId")
        .and_then(Value::as_str)
        .ok_or_else(|| ArmError::bad_request("InvalidRequestContent", "properties.policyDefinitionId is required."))?;
    let given = match props.get("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(ArmError::bad_request("InvalidPolicyParameters", "properties.parameters must be an object."));
        }
    };
    let not_scopes = string_list(props.get("notScopes"), "notScopes")?;
    let enforcement = match props.get("enforcementMode").map(|m| m.as_str()) {
        None => "Default",
        Some(Some(m)) if m.eq_ignore_ascii_case("Default") => "Default",
        Some(Some(m)) if m.eq_ignore_ascii_case("DoNotEnforce") => "DoNotEnforce",
        Some(_) => {
            return Err(ArmError::bad_request(
                "InvalidEnforcementMode",
                "enforcementMode must be 'Default' or 'DoNotEnforce'.",
            ));
        }
    };
    if body_in.get("identity").is_some_and(|i| !i.is_null()) && body_in.get("location").is_none_or(Value::is_null) {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "An assignment with a managed identity needs a location.",
        ));
    }
    let assigned = app.store.write(|state| {
        require_scope(state, scope)?;
        let definition = app.definition(state, definition_id).ok_or_else(|| {
            ArmError::not_found(
                "PolicyDefinitionNotFound",
                format!("The policy definition '{definition_id}' could not be found."),
            )
        })?;
        let empty = Map::new();
        let declared = definition["properties"]["parameters"].as_object().unwrap_or(&empty);
        parameters::resolve(declared, &given, name, definition["name"].as_str().unwrap_or(definition_id))?;
        let mut properties = props.clone();
        properties.extend([
            ("scope".to_string(), json!(scope.id)),
            ("notScopes".to_string(), Value::Array(not_scopes)),
            ("enforcementMode".to_string(), json!(enforcement)),
            ("parameters".to_string(), Value::Object(given)),
            ("policyDefinitionId".to_string(), json!(definition_id)),
        ]);
        let assignment = Assignment {
            id: id.clone(),
            name: name.to_string(),
            scope: scope.id.clone(),
            subscription: scope.subscription.clone(),
            properties: Value::Object(properties),
            location: body_in.get("location").filter(|l| !l.is_null()).cloned(),
            identity: body_in.get("identity").filter(|i| !i.is_null()).cloned(),
        };
        state.assignments.insert(key(&id), assignment.clone());
        Ok::<_, ArmError>(body(&assignment))
    })?;
    // 201 for a replacement too: the API's only success status (reference §442), and the real az
    // refuses a 200 ("Operation returned an invalid status 'OK'") when an assignment is re-created.
    Ok(json(StatusCode::CREATED, assigned))
}
