//! The ARM front door: every path that is not one of our own (`/adfs`, `/admin`, `/dataplane`,
//! `/policies`, `/metadata`) lands here. ARM matches paths case-insensitively and extension
//! resources (assignments, PolicyInsights) hang off arbitrary scopes, which axum's router cannot
//! express, so the request is checked the way ARM checks it ([`crate::request`]) and then
//! dispatched on its lower-cased segments to the handlers.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::request::{ArmRequest, checked};
use crate::{assignments, compliance, definitions, features, lro, managed_clusters, providers};
use crate::{resource_groups, subscriptions};

/// The fallback handler: checks the request the way ARM does, then dispatches it.
pub async fn handle(State(app): State<SharedApp>, request: Request) -> Response {
    match checked(&app, request).await {
        Ok(req) => dispatch(&app, &req).await.unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    }
}

fn unknown_route(req: &ArmRequest) -> ArmError {
    let namespace = req.lower.iter().rposition(|s| s == "providers").and_then(|i| req.segs.get(i + 1));
    match namespace {
        Some(ns) if providers::catalog(ns).is_none() => {
            ArmError::not_found("InvalidResourceNamespace", format!("The resource namespace '{ns}' is invalid."))
        }
        _ => ArmError::not_found(
            "InvalidResourceType",
            format!(
                "The resource type could not be found for the request path '{}' and api version '{}'.",
                req.path_id(),
                req.api_version
            ),
        ),
    }
}

async fn dispatch(app: &SharedApp, req: &ArmRequest) -> ArmResult<Response> {
    let l: Vec<&str> = req.lower.iter().map(String::as_str).collect();
    match l.as_slice() {
        ["subscriptions"] => subscriptions::list(app, req),
        ["tenants"] => subscriptions::tenants(app, req),
        ["providers", "microsoft.authorization", "policydefinitions", rest @ ..] if rest.len() <= 1 => {
            definitions::builtin_route(app, req)
        }
        ["subscriptions", _, rest @ ..] => {
            subscriptions::authorize(app, req)?;
            subscription_route(app, req, rest).await
        }
        _ => Err(unknown_route(req)),
    }
}

async fn subscription_route(app: &SharedApp, req: &ArmRequest, rest: &[&str]) -> ArmResult<Response> {
    if let Some(response) = extension_route(app, req).await {
        return response;
    }
    match rest {
        [] => subscriptions::get(app, req),
        ["providers"] => providers::list(app, req),
        ["providers", "microsoft.features", "features"] => features::list(app, req, None),
        ["providers", "microsoft.features", "providers", _, "features"] => features::list(app, req, Some(&req.segs[5])),
        ["providers", "microsoft.features", "providers", _, "features", _] => features::get(app, req),
        ["providers", "microsoft.features", "providers", _, "features", _, action] => {
            features::action(app, req, action)
        }
        ["providers", "microsoft.authorization", "policydefinitions", ..] if rest.len() <= 4 => {
            definitions::subscription_route(app, req)
        }
        ["providers", "microsoft.containerservice", "managedclusters"] => managed_clusters::list(app, req),
        ["providers", _, "locations", _, "operations", _] => lro::status(app, req),
        ["providers", _, "locations", _, "operationresults", _] => lro::result(app, req),
        ["providers", _] => providers::get(app, req),
        ["providers", _, action] => providers::action(app, req, action),
        ["resourcegroups"] => resource_groups::list(app, req),
        ["resourcegroups", _] => resource_groups::route(app, req).await,
        ["resourcegroups", _, "providers", "microsoft.containerservice", "managedclusters"] => {
            managed_clusters::list(app, req)
        }
        ["resourcegroups", _, "providers", "microsoft.containerservice", "managedclusters", _] => {
            managed_clusters::route(app, req).await
        }
        _ => Err(unknown_route(req)),
    }
}

/// Extension resources: policy assignments and PolicyInsights hang off any scope, so they are
/// found from the *last* `providers/{namespace}` pair of the path.
async fn extension_route(app: &SharedApp, req: &ArmRequest) -> Option<ArmResult<Response>> {
    let l = &req.lower;
    let p = l.iter().rposition(|s| s == "providers")?;
    let tail: Vec<&str> = l[p + 1..].iter().map(String::as_str).collect();
    let scope = &req.segs[..p];
    match tail.as_slice() {
        ["microsoft.authorization", "policyassignments", rest @ ..] if rest.len() <= 1 => {
            Some(assignments::route(app, req, scope, rest.first().map(|_| req.segs[p + 3].as_str())))
        }
        ["microsoft.policyinsights", "policystates", which, action] => {
            Some(compliance::route(app, req, scope, which, action).await)
        }
        _ => None,
    }
}
