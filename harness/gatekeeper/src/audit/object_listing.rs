//! What the audit reads: the kinds the constraints match (`spec.match.kinds[].apiGroups × kinds`),
//! resolved to resources through discovery (once per audit), and every object of those resources
//! listed from the API server in pages, as Gatekeeper's audit does without `--audit-from-cache`.
//!
//! A `kinds` entry naming every kind (`*`, or an empty list) is skipped: the audit does not list the
//! whole cluster. An entry naming every group (`*`, or no `apiGroups`) takes the kind from whichever
//! groups serve it. A resource that fails to list is logged and left out; the audit goes on with
//! the rest.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::TypeMeta;
use kube::discovery::{ApiResource, Discovery, verbs};
use policy_engine::gatekeeper_v3::{Constraint, enforcement_point};
use serde_json::Value;

use super::AuditError;

/// Objects per list request (Gatekeeper's `--audit-chunk-size` default).
const CHUNK: u32 = 500;

/// A kind some constraint matches; `group: None` is any group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WantedKind {
    pub group: Option<String>,
    pub kind: String,
}

/// The kinds the constraints that act at audit match.
pub fn wanted_kinds<'a>(constraints: impl IntoIterator<Item = &'a Constraint>) -> BTreeSet<WantedKind> {
    let mut wanted = BTreeSet::new();
    for constraint in constraints {
        if constraint.actions_at(enforcement_point::AUDIT).is_empty() {
            continue;
        }
        if constraint.spec_match.kinds.is_empty() {
            tracing::debug!(constraint = %constraint.name, "matches every kind; the audit does not list every kind");
        }
        for selector in &constraint.spec_match.kinds {
            if selector.kinds.is_empty() || selector.kinds.iter().any(|k| k == "*") {
                tracing::debug!(constraint = %constraint.name, "a kinds entry names every kind; skipped by the audit");
                continue;
            }
            let any_group = selector.api_groups.is_empty() || selector.api_groups.iter().any(|g| g == "*");
            let groups: Vec<Option<String>> =
                if any_group { vec![None] } else { selector.api_groups.iter().cloned().map(Some).collect() };
            for group in groups {
                for kind in &selector.kinds {
                    wanted.insert(WantedKind { group: group.clone(), kind: kind.clone() });
                }
            }
        }
    }
    wanted
}

/// The listable resources (preferred version) serving `wanted`, one per group and resource.
pub async fn resolve(client: &kube::Client, wanted: &BTreeSet<WantedKind>) -> Result<Vec<ApiResource>, AuditError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Option<BTreeSet<&str>> = wanted.iter().map(|w| w.group.as_deref()).collect();
    let mut discovery = Discovery::new(client.clone());
    if let Some(groups) = &groups {
        discovery = discovery.filter(&groups.iter().copied().collect::<Vec<_>>());
    }
    let discovery = discovery.run().await.map_err(AuditError::Discovery)?;
    let mut resources: BTreeMap<(String, String), ApiResource> = BTreeMap::new();
    for want in wanted {
        let mut found = false;
        for group in discovery.groups().filter(|g| want.group.as_deref().is_none_or(|w| w == g.name())) {
            if let Some((resource, caps)) = group.recommended_kind(&want.kind)
                && caps.supports_operation(verbs::LIST)
            {
                found = true;
                resources.insert((resource.group.clone(), resource.plural.clone()), resource);
            }
        }
        if !found {
            tracing::debug!(group = ?want.group, kind = %want.kind, "no served resource of this kind to audit");
        }
    }
    Ok(resources.into_values().collect())
}

/// Every object of `resources`, as JSON with `apiVersion` and `kind` and without `managedFields`.
/// A resource that cannot be listed is logged and skipped.
pub async fn list_all(client: &kube::Client, resources: &[ApiResource]) -> Vec<Value> {
    let mut objects = Vec::new();
    for resource in resources {
        match list(client, resource).await {
            Ok(listed) => objects.extend(listed),
            Err(e) => tracing::warn!(
                group = %resource.group, resource = %resource.plural, error = %e,
                "the audit cannot list this resource; auditing the others"
            ),
        }
    }
    objects
}

async fn list(client: &kube::Client, resource: &ApiResource) -> Result<Vec<Value>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let types = TypeMeta { api_version: resource.api_version.clone(), kind: resource.kind.clone() };
    let mut params = ListParams::default().limit(CHUNK);
    let mut objects = Vec::new();
    loop {
        let page = api.list(&params).await?;
        for mut object in page.items {
            object.types = Some(types.clone());
            object.metadata.managed_fields = None;
            objects.push(serde_json::to_value(&object).unwrap_or_default());
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(objects),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn constraint(kinds: Value, action: &str) -> Constraint {
        let c = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sX", "metadata": {"name": "c"},
            "spec": {"enforcementAction": action, "match": {"kinds": kinds}}});
        Constraint::from_value(&c, "test").unwrap()
    }

    fn want(group: Option<&str>, kind: &str) -> WantedKind {
        WantedKind { group: group.map(str::to_string), kind: kind.into() }
    }

    #[test]
    fn groups_times_kinds_without_wildcard_kinds() {
        let pods = constraint(
            json!([{"apiGroups": [""], "kinds": ["Pod"]},
            {"apiGroups": ["apps", "extensions"], "kinds": ["Deployment"]}, {"apiGroups": ["*"], "kinds": ["Ingress"]},
            {"apiGroups": ["apps"], "kinds": ["*"]}]),
            "dryrun",
        );
        let got = wanted_kinds([&pods]);
        let expected: BTreeSet<WantedKind> = [
            want(Some(""), "Pod"),
            want(Some("apps"), "Deployment"),
            want(Some("extensions"), "Deployment"),
            want(None, "Ingress"),
        ]
        .into();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_constraint_that_does_not_act_at_audit_lists_nothing() {
        let c = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sX", "metadata": {"name": "c"},
            "spec": {"enforcementAction": "scoped", "scopedEnforcementActions": [
                {"action": "deny", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]}],
                "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}}});
        let c = Constraint::from_value(&c, "test").unwrap();
        assert!(wanted_kinds([&c]).is_empty());
    }
}
