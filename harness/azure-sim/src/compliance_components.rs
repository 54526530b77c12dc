//! Today's add-on in PolicyInsights: what a report's `constraintAssignments` become, and the
//! `$expand=components(...)` view of them.
//!
//! - **State.** The cluster's record for an assignment takes
//!   [`ConstraintCompliance::derived_state`] (`Error`, `NonCompliant` or `Compliant`), whatever the
//!   report says, since Azure derives it.
//! - **Reasons.** The record's `complianceReasonCode` (a PolicyState field Azure's own
//!   `az policy state list` output shows, empty when there is none) carries the deciding reason:
//!   the first one that makes the state `Error`, else the first one. Putting the AKS reason codes
//!   there is our reading; Azure documents the codes, not the field.
//! - **Cap.** Azure keeps at most [`NON_COMPLIANT_CAP`] non-compliant records per policy per
//!   cluster: the newest are kept (by timestamp, then id), compliant components are not capped
//!   (no documented limit), and how many were dropped is not shown anywhere in Azure's shape (Azure
//!   documents no such count); the full report stays at `/admin/reports`.
//! - **Components.** `{id, type, name, timestamp, complianceState}` and nothing more, newest first,
//!   as in Azure's `PolicyStates_QueryResourceScopeExpandComponents` example. For a Kubernetes
//!   object, `id` is `<namespace>/<name>` (just `<name>` when cluster-scoped), `name` the object's
//!   name and `type` its kind in lower case, as Azure's `componentPolicyStates` example for a
//!   managed cluster spells them (`default/test-pod`, `test-pod`, `pod`).

use contracts::dataplane::{ComplianceReason, ComplianceReport, ComplianceState, Component, ConstraintCompliance};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ArmError, ArmResult};
use crate::odata::{self, Clause};
use crate::state::LatestState;

/// Non-compliant records Azure keeps per policy per cluster.
pub const NON_COMPLIANT_CAP: usize = 500;

/// What today's add-on reported for one assignment on one cluster, as kept: components capped and
/// newest first, reasons as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConstraintRecord {
    pub components: Vec<Component>,
    pub reasons: Vec<ComplianceReason>,
}

impl ConstraintRecord {
    /// The record's `complianceReasonCode`: the reason that decided the state, or empty.
    pub fn reason_code(&self) -> &'static str {
        let deciding = self.reasons.iter().find(|r| r.code.is_error()).or(self.reasons.first());
        deciding.map_or("", |r| r.code.as_str())
    }

    /// The components in Azure's shape.
    pub fn components_json(&self) -> impl Iterator<Item = Value> + '_ {
        self.components.iter().map(|c| {
            let id = if c.namespace.is_empty() { c.name.clone() } else { format!("{}/{}", c.namespace, c.name) };
            json!({
                "id": id, "type": c.kind.to_ascii_lowercase(), "name": c.name,
                "timestamp": c.timestamp, "complianceState": c.compliance_state.as_str(),
            })
        })
    }
}

/// Refuses what the contract rules out before anything is recorded: an `Error` component (the
/// error state belongs to an assignment, not to an object).
pub fn validate(report: &ComplianceReport) -> ArmResult<()> {
    for entry in &report.constraint_assignments {
        if let Some(c) = entry.components.iter().find(|c| c.compliance_state == ComplianceState::Error) {
            return Err(ArmError::bad_request(
                "InvalidRequestContent",
                format!(
                    "Component '{}/{}' of assignment '{}' has complianceState 'Error'; a component is Compliant or NonCompliant.",
                    c.namespace, c.name, entry.assignment_id
                ),
            ));
        }
    }
    Ok(())
}

/// The latest state one `constraintAssignments` entry of `report` makes, cap applied.
pub fn latest_state(cluster_id: &str, report: &ComplianceReport, entry: &ConstraintCompliance) -> LatestState {
    let derived = entry.derived_state();
    if derived != entry.compliance_state {
        tracing::warn!(
            assignment = %entry.assignment_id, reported = entry.compliance_state.as_str(), derived = derived.as_str(),
            "azure-sim: a report's complianceState disagrees with its components and reasons; recording the derived one"
        );
    }
    let newest_first = |a: &Component, b: &Component| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| (&a.namespace, &a.name, &a.kind).cmp(&(&b.namespace, &b.name, &b.kind)))
    };
    let (mut bad, good): (Vec<Component>, Vec<Component>) =
        entry.components.iter().cloned().partition(|c| c.compliance_state == ComplianceState::NonCompliant);
    bad.sort_by(newest_first);
    if bad.len() > NON_COMPLIANT_CAP {
        tracing::info!(
            assignment = %entry.assignment_id, dropped = bad.len() - NON_COMPLIANT_CAP,
            "azure-sim: non-compliant components over Azure's cap of {NON_COMPLIANT_CAP} per policy per cluster dropped"
        );
        bad.truncate(NON_COMPLIANT_CAP);
    }
    let mut components = bad;
    components.extend(good);
    components.sort_by(newest_first);
    LatestState {
        cluster_id: cluster_id.to_string(),
        assignment_id: entry.assignment_id.clone(),
        compliance_state: derived.as_str().to_string(),
        timestamp: report.generated_at,
        report_id: report.report_id.clone(),
        violations: Vec::new(),
        constraint: Some(ConstraintRecord { components, reasons: entry.reasons.clone() }),
    }
}

/// A parsed `$expand=components` or `components($filter=...)`: which components to show.
#[derive(Debug, Clone, Default)]
pub struct ComponentsExpand {
    /// `or`-joined groups of `and`-joined clauses; empty shows every component.
    filter: Vec<Vec<Clause>>,
}

impl ComponentsExpand {
    pub fn keeps(&self, component: &Value) -> bool {
        self.filter.is_empty() || odata::matches_any(component, &self.filter)
    }
}

fn invalid_expand(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidQueryParameterValue", message)
}

/// Splits `text` at `sep` outside parentheses and quotes.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut quoted, mut start, mut parts) = (0i32, false, 0, Vec::new());
    for (i, ch) in text.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Reads `$expand`: `None` when it does not ask for components. Other expansions
/// (`PolicyEvaluationDetails`) are ignored, as before; inside `components(...)` only `$filter` is
/// understood, and anything else is a 400 rather than a silently different answer.
pub fn parse_expand(expand: Option<&str>) -> ArmResult<Option<ComponentsExpand>> {
    let Some(expand) = expand.map(str::trim).filter(|e| !e.is_empty()) else { return Ok(None) };
    let mut found = None;
    for item in split_top(expand, ',').into_iter().map(str::trim) {
        let (name, options) = match item.find('(') {
            Some(open) => {
                let inner = item[open + 1..]
                    .strip_suffix(')')
                    .ok_or_else(|| invalid_expand(format!("Unbalanced parentheses in $expand item '{item}'.")))?;
                (item[..open].trim(), Some(inner))
            }
            None => (item, None),
        };
        if !name.eq_ignore_ascii_case("components") {
            continue;
        }
        if found.is_some() {
            return Err(invalid_expand("$expand names 'components' more than once."));
        }
        let mut parsed = ComponentsExpand::default();
        for option in options.map(|o| split_top(o, ';')).unwrap_or_default() {
            let option = option.trim();
            match option.split_once('=') {
                Some((key, value)) if key.trim().eq_ignore_ascii_case("$filter") => {
                    parsed.filter = odata::parse_disjunction(value)?;
                }
                _ if option.is_empty() => {}
                _ => {
                    return Err(invalid_expand(format!(
                        "Unsupported option '{option}' in $expand=components(...); only $filter is supported."
                    )));
                }
            }
        }
        found = Some(parsed);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_reads_components_with_and_without_a_filter() {
        assert!(parse_expand(None).unwrap().is_none());
        assert!(parse_expand(Some("PolicyEvaluationDetails")).unwrap().is_none());
        let all = parse_expand(Some("components")).unwrap().unwrap();
        assert!(all.keeps(&json!({"complianceState": "Compliant"})));
        let both = parse_expand(Some(
            "PolicyEvaluationDetails, components($filter=ComplianceState eq 'NonCompliant' or ComplianceState eq 'Compliant')",
        ))
        .unwrap()
        .unwrap();
        assert!(both.keeps(&json!({"complianceState": "Compliant"})));
        let bad = parse_expand(Some("Components($filter=complianceState eq 'NonCompliant')")).unwrap().unwrap();
        assert!(bad.keeps(&json!({"complianceState": "NonCompliant"})));
        assert!(!bad.keeps(&json!({"complianceState": "Compliant"})));
    }

    #[test]
    fn expand_refuses_what_it_cannot_honour() {
        for (expand, code) in [
            ("components($apply=groupby((complianceState),aggregate($count as count)))", "InvalidQueryParameterValue"),
            ("components($filter=ComplianceState eq 'NonCompliant'", "InvalidQueryParameterValue"),
            ("components,components", "InvalidQueryParameterValue"),
            ("components($filter=ComplianceState gt 'A')", "InvalidFilterInQueryString"),
        ] {
            assert_eq!(parse_expand(Some(expand)).unwrap_err().code, code, "{expand}");
        }
    }
}
