//! The dataplane API between the add-on and Azure Policy. Microsoft never published the real one, so
//! this is our own (docs/contracts.md §3; the bodies are [`contracts::dataplane`]'s):
//!
//! - `GET /dataplane/v1/assignments?clusterId=<id>`: the active assignments for the cluster: the
//!   2019 ones with resolved parameters and the Rego URI, and today's `Microsoft.Kubernetes.Data`
//!   ones with the template (on this server's store), resolved `values` and match fields;
//! - `GET /policies/kubernetes/<file>` and `/policies/custom/<file>`: the Rego, no auth;
//! - `POST /dataplane/v1/reports` (`Idempotency-Key: <reportId>`): a compliance report; the latest
//!   accepted report per (cluster, assignment) becomes that assignment's PolicyInsights state.
//!
//! Every dataplane call needs a bearer token of a principal with access to the cluster's
//! subscription and answers 403 `FeatureNotRegistered` until
//! `Microsoft.PolicyInsights/AKS-DataplaneAutoApprove` is `Registered` there.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use contracts::dataplane::{Assignment, AssignmentList, ConstraintAssignment, ReportAck, TemplateSource};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{Active, SharedApp};
use crate::auth::authenticate;
use crate::builtins;
use crate::compliance_components;
use crate::error::{ArmError, ArmResult};
use crate::features::{DATAPLANE_FEATURE, gate_refusal};
use crate::managed_clusters::azurepolicy_enabled;
use crate::state::{LatestState, SimState};
use crate::template_store::local_url;

/// The report type lives in `contracts`; `RunningSim::reports` names it through here.
pub(crate) use contracts::dataplane::ComplianceReport;

#[derive(Debug, Deserialize)]
pub struct ClusterQuery {
    #[serde(rename = "clusterId")]
    cluster_id: Option<String>,
}

/// Checks token, cluster, add-on and feature for a dataplane call on `cluster_id`.
fn admit(state: &SimState, headers: &HeaderMap, cluster_id: &str) -> ArmResult<String> {
    let caller = authenticate(state, headers)?;
    let not_found = || {
        ArmError::not_found(
            "ResourceNotFound",
            format!("The managed cluster '{cluster_id}' does not exist or has no azurepolicy add-on enabled."),
        )
    };
    let segs = crate::ids::segments(cluster_id);
    let subscription = segs
        .get(1)
        .filter(|_| segs.first().is_some_and(|s| s.eq_ignore_ascii_case("subscriptions")))
        .ok_or_else(not_found)?;
    caller.authorize(subscription, "Microsoft.PolicyInsights/dataplane/action", cluster_id)?;
    // Today's add-on is generally available; only the 2019 preview's dataplane was gated.
    let gated = state.addon_generation(subscription) == contracts::AddonGeneration::Preview2019;
    if gated && let Some(message) = gate_refusal(state, subscription, DATAPLANE_FEATURE, false) {
        return Err(ArmError::forbidden("FeatureNotRegistered", message));
    }
    let cluster = state.cluster_by_id(cluster_id).filter(|c| azurepolicy_enabled(&c.body)).ok_or_else(not_found)?;
    Ok(cluster.id.clone())
}

/// `GET /dataplane/v1/assignments?clusterId=…`.
pub async fn assignments(State(app): State<SharedApp>, headers: HeaderMap, Query(q): Query<ClusterQuery>) -> Response {
    let cluster_id = q.cluster_id.unwrap_or_default();
    let answer = app.store.read(|state| {
        let cluster_id = admit(state, &headers, &cluster_id)?;
        let (current, preview): (Vec<Active>, Vec<Active>) =
            app.active_for_cluster(state, &cluster_id).into_iter().partition(Active::is_kubernetes);
        let assignments = preview.iter().map(rego_assignment).collect();
        let constraint_assignments = current.iter().filter_map(|a| constraint_assignment(&app, a)).collect();
        Ok::<_, ArmError>(AssignmentList { cluster_id, assignments, constraint_assignments })
    });
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A 2019 assignment: the Rego URI and its placeholders' values.
fn rego_assignment(active: &Active) -> Assignment {
    let props = &active.definition["properties"];
    let details = &props["policyRule"]["then"]["details"];
    let parameters: serde_json::Map<String, Value> = details["policyParameters"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, t)| Some((k.clone(), crate::parameters::expand(t, &active.parameters, k).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let a = &active.assignment;
    Assignment {
        assignment_id: a.id.clone(),
        assignment_name: a.name.clone(),
        definition_id: text(&active.definition["id"]),
        display_name: text(&props["displayName"]),
        effect: active.effect.clone(),
        policy_uri: text(&details["policy"]),
        parameters,
        enforcement_mode: enforcement_mode(active),
    }
}

/// Normalised when the assignment was written; absent only in older state files.
fn enforcement_mode(active: &Active) -> contracts::EnforcementMode {
    serde_json::from_value(active.assignment.properties["enforcementMode"].clone()).unwrap_or_default()
}

/// A `Microsoft.Kubernetes.Data` assignment with its `details` resolved. `None` for what the add-on
/// does not install from this feed: mutation (`mutationInfo`), or details whose expressions do not
/// resolve (the definition was checked when written, so only a later-changed definition can).
fn constraint_assignment(app: &SharedApp, active: &Active) -> Option<ConstraintAssignment> {
    let props = &active.definition["properties"];
    let raw = &props["policyRule"]["then"]["details"];
    if active.effect.eq_ignore_ascii_case("mutate") || raw.get("mutationInfo").is_some() {
        return None;
    }
    let details = crate::parameters::expand(raw, &active.parameters, "details").ok()?;
    let source = |info: &Value| -> Option<TemplateSource> {
        let kind = info["sourceType"].as_str()?;
        if kind.eq_ignore_ascii_case("PublicURL") {
            Some(TemplateSource::PublicUrl { url: local_url(app, info["url"].as_str()?) })
        } else {
            Some(TemplateSource::Base64Encoded { content: info["content"].as_str()?.to_string() })
        }
    };
    let list = |key: &str| -> Vec<String> {
        details[key].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    };
    let object = |key: &str| details[key].as_object().cloned().unwrap_or_default();
    let a = &active.assignment;
    Some(ConstraintAssignment {
        assignment_id: a.id.clone(),
        assignment_name: a.name.clone(),
        definition_id: text(&active.definition["id"]),
        display_name: text(&props["displayName"]),
        effect: active.effect.clone(),
        enforcement_mode: enforcement_mode(active),
        template: source(&details["templateInfo"])?,
        constraint: details.get("constraintInfo").and_then(source),
        api_groups: list("apiGroups"),
        kinds: list("kinds"),
        namespaces: list("namespaces"),
        excluded_namespaces: list("excludedNamespaces"),
        label_selector: object("labelSelector"),
        source: details["source"].as_str().map(str::to_string),
        warn: details["warn"].as_bool().unwrap_or(false),
        values: object("values"),
    })
}

/// `POST /dataplane/v1/reports`: idempotent on `reportId`.
pub async fn reports(State(app): State<SharedApp>, headers: HeaderMap, body: Bytes) -> Response {
    accept_report(&app, &headers, &body).map_or_else(IntoResponse::into_response, |b| Json(b).into_response())
}

fn accept_report(app: &SharedApp, headers: &HeaderMap, body: &[u8]) -> ArmResult<ReportAck> {
    let report: ComplianceReport = serde_json::from_slice(body).map_err(ArmError::invalid_content)?;
    compliance_components::validate(&report)?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    if key.is_some_and(|k| k != report.report_id) {
        return Err(ArmError::bad_request(
            "IdempotencyKeyMismatch",
            "The Idempotency-Key header must equal the body's reportId.",
        ));
    }
    app.store.write(|state| {
        let cluster_id = admit(state, headers, &report.cluster_id)?;
        let duplicate = state.reports.iter().any(|r| r.report_id == report.report_id);
        if !duplicate {
            record(state, &cluster_id, &report);
            state.reports.push(report.clone());
        }
        Ok::<_, ArmError>(ReportAck { report_id: report.report_id.clone(), accepted: true, duplicate })
    })
}

/// Makes each assignment's verdict (2019 `assignments`, then today's `constraintAssignments`) the
/// latest state, unless a newer report already won.
fn record(state: &mut SimState, cluster_id: &str, report: &ComplianceReport) {
    let preview = report.assignments.iter().map(|result| LatestState {
        cluster_id: cluster_id.to_string(),
        assignment_id: result.assignment_id.clone(),
        compliance_state: result.compliance_state.as_str().to_string(),
        timestamp: report.generated_at,
        report_id: report.report_id.clone(),
        violations: result.violations.clone(),
        constraint: None,
    });
    let current = report
        .constraint_assignments
        .iter()
        .map(|entry| compliance_components::latest_state(cluster_id, report, entry));
    for latest in preview.chain(current) {
        let key = SimState::latest_key(cluster_id, &latest.assignment_id);
        if state.latest.get(&key).is_some_and(|l| l.timestamp > report.generated_at) {
            continue;
        }
        state.latest.insert(key, latest);
    }
}

fn rego_response(text: Option<String>, file: &str) -> Response {
    match text {
        Some(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            response
        }
        None => ArmError::not_found("NotFound", format!("No policy file '{file}'.")).into_response(),
    }
}

/// `GET /policies/kubernetes/{file}`: a built-in's Rego, placeholders intact.
pub async fn builtin_rego(Path(file): Path<String>) -> Response {
    rego_response(builtins::rego(&file).map(str::to_string), &file)
}

/// `GET /policies/custom/{file}`: Rego from `--definitions DIR`.
pub async fn custom_rego(State(app): State<SharedApp>, Path(file): Path<String>) -> Response {
    rego_response(app.custom_rego.get(&file).cloned(), &file)
}

/// `GET /admin/reports?clusterId=…`: every accepted report for the cluster, in arrival order.
pub async fn admin_reports(State(app): State<SharedApp>, Query(q): Query<ClusterQuery>) -> Json<Value> {
    let cluster_id = q.cluster_id.unwrap_or_default();
    Json(json!({ "value": app.reports(&cluster_id) }))
}
