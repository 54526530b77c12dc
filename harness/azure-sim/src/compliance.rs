//! PolicyInsights (api-versions 2018-04-04 / 2019-10-01): `policyStates/latest/queryResults`,
//! `summarize` and `triggerEvaluation` at subscription, resource-group, resource and assignment
//! scope. States come from the add-on's reports (see `dataplane`); only assignments still active for
//! the cluster appear, so deleting an assignment or excluding the cluster hides its states at once.
//! Today's add-on adds components, reason codes and the `Error` state (`compliance_components`).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::addon::AddonFailure;
use crate::app::SharedApp;
use crate::compliance_components::{self, ComponentsExpand};
use crate::error::{ArmError, ArmResult};
use crate::ids::{self, Scope, ScopeKind};
use crate::request::{ArmRequest, json};
use crate::state::SimState;
use crate::{lro, odata, providers};

const NAMESPACE: &str = "Microsoft.PolicyInsights";

/// `{scope}/providers/Microsoft.PolicyInsights/policyStates/{latest|default}/{action}`.
pub async fn route(
    app: &SharedApp,
    req: &ArmRequest,
    scope: &[String],
    which: &str,
    action: &str,
) -> ArmResult<Response> {
    app.store.read(|state| providers::require_registered(state, &req.segs[1], NAMESPACE))?;
    let scope = Scope::parse(scope)?;
    req.only(Method::POST)?;
    match (which, action) {
        ("latest" | "default", "queryresults") => query_results(app, req, &scope),
        ("latest", "summarize") => summarize(app, req, &scope),
        ("latest", "triggerevaluation") => trigger_evaluation(app, req, &scope),
        _ => Err(ArmError::not_found(
            "InvalidResourceType",
            format!(
                "'policyStates/{which}/{action}' is not supported; use latest|default with queryResults, or latest with summarize or triggerEvaluation."
            ),
        )),
    }
}

/// The PolicyState records visible at `scope`, newest first, with `components` when `expand` asks.
fn records(
    app: &SharedApp,
    state: &SimState,
    req: &ArmRequest,
    scope: &Scope,
    expand: Option<&ComponentsExpand>,
) -> Vec<Value> {
    let context = format!(
        "{}/subscriptions/{}/providers/{NAMESPACE}/policyStates/$metadata#latest/$entity",
        req.base, scope.subscription
    );
    let mut out: Vec<(chrono::DateTime<chrono::Utc>, Value)> = Vec::new();
    for latest in state.latest.values() {
        let Some(cluster) = state.cluster_by_id(&latest.cluster_id) else { continue };
        let Some(assignment) = state.assignments.get(&ids::key(&latest.assignment_id)) else { continue };
        let in_scope = match scope.kind {
            ScopeKind::Assignment => ids::eq(&assignment.id, &scope.id),
            _ => scope.contains_resource(&cluster.id),
        };
        let Some(active) = in_scope.then(|| app.active(state, assignment, &cluster.id)).flatten() else { continue };
        let def = &active.definition;
        let compliant = latest.compliance_state == "Compliant";
        let mut record = json!({
            "@odata.id": null, "@odata.context": context, "timestamp": latest.timestamp,
            "resourceId": cluster.id, "subscriptionId": scope.subscription,
            "resourceType": "Microsoft.ContainerService/managedClusters",
            "resourceLocation": cluster.body["location"], "resourceGroup": cluster.resource_group,
            "resourceTags": cluster.body["tags"].to_string(),
            "policyAssignmentId": assignment.id, "policyAssignmentName": assignment.name,
            "policyAssignmentOwner": "tbd", "policyAssignmentScope": assignment.scope,
            "policyAssignmentParameters": assignment.properties["parameters"].to_string(),
            "policyDefinitionId": def["id"], "policyDefinitionName": def["name"],
            "policyDefinitionAction": active.effect,
            "policyDefinitionCategory": def["properties"]["metadata"]["category"].as_str().unwrap_or("tbd"),
            "policyDefinitionReferenceId": "", "policyDefinitionGroupNames": [""],
            "policySetDefinitionId": "", "policySetDefinitionName": "", "policySetDefinitionOwner": "",
            "policySetDefinitionCategory": "", "policySetDefinitionParameters": "",
            "managementGroupIds": "", "effectiveParameters": "",
            "isCompliant": compliant, "complianceState": latest.compliance_state,
        });
        if let Some(constraint) = &latest.constraint {
            record["complianceReasonCode"] = json!(constraint.reason_code());
        }
        if let Some(expand) = expand {
            let components: Vec<Value> = match &latest.constraint {
                Some(constraint) => constraint.components_json().filter(|c| expand.keeps(c)).collect(),
                // Extension for the 2019 add-on: per-object violations, in the same shape plus
                // namespace, message and source.
                None => latest
                    .violations
                    .iter()
                    .map(|v| {
                        json!({
                            "id": format!("{}/{}/{}", v.kind, v.namespace, v.name), "type": v.kind, "name": v.name,
                            "namespace": v.namespace, "timestamp": latest.timestamp, "complianceState": "NonCompliant",
                            "message": v.message, "source": v.source,
                        })
                    })
                    .filter(|c| expand.keeps(c))
                    .collect(),
            };
            record["components"] = json!(components);
        }
        out.push((latest.timestamp, record));
    }
    out.sort_by_key(|(timestamp, _)| std::cmp::Reverse(*timestamp));
    out.into_iter().map(|(_, r)| r).collect()
}

/// The request's `$filter`, parsed (no filter: no clauses).
fn clauses(req: &ArmRequest) -> ArmResult<Vec<odata::Clause>> {
    match req.query("$filter").filter(|f| !f.trim().is_empty()) {
        Some(f) => odata::parse(f),
        None => Ok(Vec::new()),
    }
}

/// Applies `$filter` and `$top`.
fn filtered(req: &ArmRequest, records: Vec<Value>) -> ArmResult<Vec<Value>> {
    let clauses = clauses(req)?;
    let top = match req.query("$top") {
        Some(t) => t.parse::<usize>().map_err(|_| {
            ArmError::bad_request(
                "InvalidQueryParameterValue",
                format!("The value '{t}' of $top is not a non-negative integer."),
            )
        })?,
        None => usize::MAX,
    };
    Ok(records.into_iter().filter(|r| odata::matches(r, &clauses)).take(top).collect())
}

fn query_results(app: &SharedApp, req: &ArmRequest, scope: &Scope) -> ArmResult<Response> {
    let expand = compliance_components::parse_expand(req.query("$expand"))?;
    let records = app.store.read(|state| records(app, state, req, scope, expand.as_ref()));
    let value = filtered(req, records)?;
    Ok(json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}/subscriptions/{}/providers/{NAMESPACE}/policyStates/$metadata#latest", req.base, scope.subscription),
            "@odata.count": value.len(),
            "value": value,
        }),
    ))
}

/// Azure's aggregation rank: when one resource or policy has several states, the higher wins
/// (non-compliant, then compliant, then error).
fn rank(state: &str) -> u8 {
    match state {
        "NonCompliant" => 3,
        "Compliant" => 2,
        _ => 1,
    }
}

/// Counts in the summary shape: distinct resources and policies, by (lower-case) state. `error`
/// appears only when some resource or policy is in the error state, so summaries without one read
/// as they always did.
fn results(records: &[&Value], query_uri: &str) -> Value {
    let mut resources: BTreeMap<String, &str> = BTreeMap::new();
    let mut policies: BTreeMap<String, &str> = BTreeMap::new();
    for r in records {
        let state = r["complianceState"].as_str().unwrap_or("Compliant");
        let resource = ids::key(r["resourceId"].as_str().unwrap_or_default());
        let policy = ids::key(&format!(
            "{}|{}",
            r["policyAssignmentId"].as_str().unwrap_or_default(),
            r["policyDefinitionId"].as_str().unwrap_or_default()
        ));
        for (map, key) in [(&mut resources, resource), (&mut policies, policy)] {
            let entry = map.entry(key).or_insert(state);
            if rank(state) > rank(entry) {
                *entry = state;
            }
        }
    }
    let count = |m: &BTreeMap<String, &str>, state: &str| m.values().filter(|s| **s == state).count();
    let details = |m: &BTreeMap<String, &str>| {
        let mut out = vec![
            json!({"complianceState": "compliant", "count": count(m, "Compliant")}),
            json!({"complianceState": "noncompliant", "count": count(m, "NonCompliant")}),
        ];
        let errors = count(m, "Error");
        if errors > 0 {
            out.push(json!({"complianceState": "error", "count": errors}));
        }
        Value::Array(out)
    };
    json!({
        "queryResultsUri": query_uri,
        "nonCompliantResources": count(&resources, "NonCompliant"),
        "nonCompliantPolicies": count(&policies, "NonCompliant"),
        "resourceDetails": details(&resources), "policyDetails": details(&policies), "policyGroupDetails": [],
    })
}

fn summarize(app: &SharedApp, req: &ArmRequest, scope: &Scope) -> ArmResult<Response> {
    let all = app.store.read(|state| records(app, state, req, scope, None));
    let clauses = clauses(req)?;
    let records: Vec<&Value> = all.iter().filter(|r| odata::matches(r, &clauses)).collect();
    let query_uri = format!(
        "{}{}/providers/{NAMESPACE}/policyStates/latest/queryResults?api-version={}",
        req.base, scope.id, req.api_version
    );
    let assignment_ids: BTreeSet<String> =
        records.iter().filter_map(|r| r["policyAssignmentId"].as_str().map(str::to_string)).collect();
    let top = req.query("$top").and_then(|t| t.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let per_assignment: Vec<Value> = assignment_ids
        .iter()
        .take(top)
        .map(|id| {
            let mine: Vec<&Value> = records.iter().copied().filter(|r| r["policyAssignmentId"] == id.as_str()).collect();
            let effect = mine.first().map_or(Value::Null, |r| r["policyDefinitionAction"].clone());
            let definition = mine.first().map_or(Value::Null, |r| r["policyDefinitionId"].clone());
            json!({
                "policyAssignmentId": id, "policySetDefinitionId": "", "results": results(&mine, &query_uri),
                "policyDefinitions": [{
                    "policyDefinitionId": definition, "policyDefinitionReferenceId": "", "policyDefinitionGroupNames": [""],
                    "effect": effect, "results": results(&mine, &query_uri),
                }],
                "policyGroups": [],
            })
        })
        .collect();
    let context = format!(
        "{}/subscriptions/{}/providers/{NAMESPACE}/policyStates/$metadata#summary",
        req.base, scope.subscription
    );
    // Always one summary element: `az policy state summarize` indexes value[0].
    Ok(json(
        StatusCode::OK,
        json!({
            "@odata.context": context, "@odata.count": 1,
            "value": [{
                "@odata.id": null, "@odata.context": format!("{context}/$entity"),
                "results": results(&records, &query_uri), "policyAssignments": per_assignment,
            }],
        }),
    ))
}

/// 202 + Location; asks the add-on of every cluster in scope to audit and report now.
fn trigger_evaluation(app: &SharedApp, req: &ArmRequest, scope: &Scope) -> ArmResult<Response> {
    if !matches!(scope.kind, ScopeKind::Subscription | ScopeKind::ResourceGroup) {
        return Err(ArmError::bad_request(
            "InvalidScope",
            "triggerEvaluation is available at subscription and resource-group scope.",
        ));
    }
    let (op_id, clusters) = app.store.write(|state| {
        let clusters: Vec<String> = state
            .subscription(&scope.subscription)
            .map(|s| {
                s.clusters
                    .values()
                    .filter(|c| c.addon_installed && scope.contains_resource(&c.id))
                    .map(|c| c.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        (lro::start(state, &scope.subscription), clusters)
    });
    let controller = app.controller.clone();
    let work = async move {
        let mut errors = Vec::new();
        for id in clusters {
            if let Err(e) = controller.trigger_scan(&id).await {
                errors.push((id, e));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(AddonFailure::Scan(errors)) }
    };
    lro::spawn(app, op_id.clone(), work, |_, result| match result {
        Ok(()) => Ok(Some(json!({"status": "Succeeded"}))),
        Err(failure) => Err(failure.into()),
    });
    Ok(lro::accepted(&lro::result_url(req, NAMESPACE, "global", &op_id), None))
}
