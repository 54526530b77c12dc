//! Policy definitions (Microsoft.Authorization/policyDefinitions): the built-in catalog, custom
//! definitions PUT into a subscription, and custom definitions loaded from `--definitions DIR`
//! (tenant-wide, like the built-ins, so every scenario subscription sees them). A custom
//! definition's `details.policy` may name a Rego file of that directory; it is then rewritten to
//! this server's `/policies/custom/<file>` URL, so users can bring their own policies.
//!
//! `Microsoft.Kubernetes.Data` definitions (today's add-on) are checked by
//! [`crate::kubernetes_definitions`], which gives each rule its own error code.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::app::SharedApp;
use crate::builtins::{self, REGO_MODE};
use crate::error::{ArmError, ArmResult, SimError};
use crate::ids::key;
use crate::kubernetes_builtins;
use crate::kubernetes_definitions::{self, is_kubernetes_mode};
use crate::parameters::{canonical_type, has_type};
use crate::request::{ArmRequest, json};

const TYPE: &str = "Microsoft.Authorization/policyDefinitions";
const MODES: &[&str] =
    &["All", "Indexed", "Microsoft.ContainerService.Data", "Microsoft.Kubernetes.Data", "Microsoft.KeyVault.Data"];

fn not_found(id: &str) -> ArmError {
    ArmError::not_found("PolicyDefinitionNotFound", format!("The policy definition '{id}' could not be found."))
}

/// `GET /providers/Microsoft.Authorization/policyDefinitions[/{name}]`.
pub fn builtin_route(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    req.only(Method::GET)?;
    match req.segs.get(3) {
        None => Ok(json(StatusCode::OK, json!({ "value": app.tenant_definitions() }))),
        Some(name) => app.tenant_definition(name).map(|d| json(StatusCode::OK, d)).ok_or_else(|| not_found(name)),
    }
}

/// `…/subscriptions/{s}/providers/Microsoft.Authorization/policyDefinitions[/{name}]`.
pub fn subscription_route(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let sub = &req.segs[1];
    let Some(name) = req.segs.get(5) else {
        req.only(Method::GET)?;
        let mut value = app.tenant_definitions();
        app.store.read(|state| {
            let custom = state.subscription(sub).map(|s| s.definitions.values().cloned().collect::<Vec<_>>());
            value.extend(custom.unwrap_or_default().into_iter().map(|d| app.rendered(d)));
        });
        return Ok(json(StatusCode::OK, json!({ "value": value })));
    };
    match req.method {
        Method::GET => app
            .store
            .read(|state| app.definition(state, &req.path_id()))
            .map(|d| json(StatusCode::OK, d))
            .ok_or_else(|| not_found(name)),
        Method::PUT => put(app, req, name),
        Method::DELETE => {
            let removed =
                app.store.write(|state| state.subscription_mut(sub).and_then(|s| s.definitions.remove(&key(name))));
            Ok(match removed {
                Some(d) => json(StatusCode::OK, app.rendered(d)),
                None => StatusCode::NO_CONTENT.into_response(),
            })
        }
        _ => Err(req.method_not_allowed()),
    }
}

fn put(app: &SharedApp, req: &ArmRequest, name: &str) -> ArmResult<Response> {
    if builtins::find(name).is_some() || kubernetes_builtins::find(name).is_some() {
        return Err(ArmError::bad_request(
            "PolicyDefinitionNameConflict",
            format!("'{name}' is the name of a built-in policy definition."),
        ));
    }
    let body = req.json_object()?;
    let mut properties = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ArmError::invalid_content("properties must be an object"))?;
    validate(name, &properties)?;
    properties.insert("policyType".into(), json!("Custom"));
    properties.entry("mode").or_insert(json!("All"));
    let sub = req.segs[1].clone();
    let definition = json!({
        "id": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/policyDefinitions/{name}"),
        "name": name, "type": TYPE, "properties": properties,
    });
    app.store.write(|state| {
        state.subscription_mut(&sub).map(|s| s.definitions.insert(key(name), definition.clone()));
    });
    // 201 for a replacement too, as for assignments: the API's only success status, which the
    // real az insists on.
    Ok(json(StatusCode::CREATED, app.rendered(definition)))
}

/// Checks a custom definition (`name` names it in messages): mode, parameters and rule, with the
/// extra rules of the `EnforceRegoPolicy` mode and of `Microsoft.Kubernetes.Data`.
pub fn validate(name: &str, properties: &Map<String, Value>) -> ArmResult<()> {
    let invalid = |code: &str, msg: String| ArmError::bad_request(code, msg);
    let mode = properties.get("mode").map_or(Some("All"), Value::as_str);
    if !mode.is_some_and(|m| MODES.iter().any(|x| x.eq_ignore_ascii_case(m))) {
        return Err(invalid(
            "InvalidPolicyMode",
            format!("The policy mode {:?} is not supported; use one of {MODES:?}.", properties.get("mode")),
        ));
    }
    let params = properties.get("parameters").filter(|p| !p.is_null());
    let params = match params {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(invalid("InvalidPolicyParameters", "parameters must be an object.".into())),
    };
    for (name, decl) in &params {
        let declared = decl["type"].as_str().and_then(canonical_type);
        let default_ok = decl.get("defaultValue").is_none_or(|d| declared.is_some_and(|t| has_type(d, t)));
        if declared.is_none() || !default_ok {
            return Err(invalid(
                "InvalidPolicyParameters",
                format!(
                    "The parameter '{name}' needs a type (String, Array, Object, Boolean, Integer, Float or DateTime) and a default of that type."
                ),
            ));
        }
    }
    let rule = properties.get("policyRule");
    let then = rule.and_then(|r| r.get("then"));
    if !rule.is_some_and(|r| r["if"].is_object()) || !then.is_some_and(|t| t["effect"].is_string()) {
        return Err(invalid(
            "InvalidPolicyRule",
            "policyRule needs an 'if' object and a 'then' object with an 'effect'.".into(),
        ));
    }
    let mode = mode.unwrap_or("All");
    if is_kubernetes_mode(mode) {
        return kubernetes_definitions::check(properties).map_err(|e| e.into_arm(name));
    }
    kubernetes_definitions::check_other_mode(mode, then).map_err(|e| e.into_arm(name))?;
    if mode.eq_ignore_ascii_case(REGO_MODE) {
        let details = then.and_then(|t| t.get("details"));
        let has_policy = details.is_some_and(|d| d["policy"].is_string() && d["policyId"].is_string());
        let effect = then.and_then(|t| t["effect"].as_str()).unwrap_or_default();
        if !has_policy || !(effect.eq_ignore_ascii_case("EnforceRegoPolicy") || effect.starts_with("[parameters(")) {
            return Err(invalid(
                "InvalidPolicyRule",
                format!(
                    "Definitions in mode '{REGO_MODE}' need the effect EnforceRegoPolicy (or a parameter) and details.policyId and details.policy (a Rego URI)."
                ),
            ));
        }
    }
    Ok(())
}

/// Loads `*.json` definitions and `*.rego` files from a directory.
pub fn load_dir(dir: &Path) -> Result<(Vec<Value>, BTreeMap<String, String>), SimError> {
    let mut definitions = Vec::new();
    let mut rego = BTreeMap::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(SimError::io(dir))?.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
        let fail = |message: String| SimError::Definition { path: path.display().to_string(), message };
        match path.extension().and_then(|e| e.to_str()) {
            Some("rego") => {
                rego.insert(file, std::fs::read_to_string(&path).map_err(SimError::io(&path))?);
            }
            Some("json") => {
                let text = std::fs::read_to_string(&path).map_err(SimError::io(&path))?;
                let doc: Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("definition");
                let name = doc["name"].as_str().unwrap_or(stem).to_string();
                let mut properties = doc
                    .get("properties")
                    .unwrap_or(&doc)
                    .as_object()
                    .cloned()
                    .ok_or_else(|| fail("not a JSON object".into()))?;
                validate(&name, &properties).map_err(|e| fail(format!("{}: {}", e.code, e.message)))?;
                properties.insert("policyType".into(), json!("Custom"));
                properties.entry("mode").or_insert(json!("All"));
                definitions.push(json!({
                    "id": format!("/providers/Microsoft.Authorization/policyDefinitions/{name}"),
                    "name": name, "type": TYPE, "properties": properties,
                }));
            }
            _ => {}
        }
    }
    Ok((definitions, rego))
}
