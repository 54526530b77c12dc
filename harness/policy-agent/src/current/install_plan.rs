//! Which assignments' templates may be installed this refresh (pure, so it is unit-tested):
//!
//! * **Conflicts** (reference §3.6): assignments whose templates share a name but come from different
//!   sources. The source already installed keeps working; the others get
//!   `ConstraintTemplateConflicts` and are not installed. When none of them is installed, none is
//!   ("conflicting definitions that are not yet installed stay uninstalled until the conflict is
//!   resolved").
//! * **Sync data** (reference §3.5): a custom definition's template carrying
//!   `metadata.gatekeeper.sh/requires-sync-data` gets `ConstraintTemplateInstallFailed`; only
//!   built-ins drive the sync config. A built-in's definition id has no subscription
//!   (`/providers/Microsoft.Authorization/policyDefinitions/<GUID>`).

use std::collections::{BTreeMap, BTreeSet};

use contracts::dataplane::{ComplianceReason, ConstraintAssignment, ReasonCode};

use super::template_source::FetchedTemplate;

/// One template to install, and the assignments (indexes) whose Constraints use it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateGroup {
    pub name: String,
    pub members: Vec<usize>,
}

/// The plan: groups to install and the reasons of assignments left out.
#[derive(Debug, Default, PartialEq)]
pub struct InstallPlan {
    pub groups: Vec<TemplateGroup>,
    pub rejected: BTreeMap<usize, ComplianceReason>,
}

/// Whether a definition is a built-in (tenant-wide, no subscription or management group in its id).
pub fn is_builtin(definition_id: &str) -> bool {
    definition_id.to_ascii_lowercase().starts_with("/providers/microsoft.authorization/policydefinitions/")
}

/// Plans the installs of the fetched templates (`fetched[i]` belongs to `assignments[i]`; `None`
/// where fetching failed). `installed_source(name)` is the source annotation of a template of that
/// name in the cluster, if one is there.
pub fn plan(
    assignments: &[ConstraintAssignment],
    fetched: &[Option<&FetchedTemplate>],
    installed_source: impl Fn(&str) -> Option<String>,
) -> InstallPlan {
    let mut out = InstallPlan::default();
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in fetched.iter().enumerate() {
        let Some(t) = t else { continue };
        if t.declares_sync && !is_builtin(&assignments[i].definition_id) {
            let message = format!(
                "template {} of custom definition {} declares metadata.gatekeeper.sh/requires-sync-data, which only built-in definitions may",
                t.name, assignments[i].definition_id
            );
            out.rejected.insert(i, ComplianceReason { code: ReasonCode::ConstraintTemplateInstallFailed, message });
            continue;
        }
        by_name.entry(t.name.as_str()).or_default().push(i);
    }
    for (name, members) in by_name {
        let source_of = |i: &usize| fetched[*i].map(|t| t.source.as_str()).unwrap_or_default();
        let sources: BTreeSet<&str> = members.iter().map(source_of).collect();
        let winner = match (sources.len(), installed_source(name)) {
            (1, _) => sources.first().map(|s| s.to_string()),
            (_, Some(installed)) if sources.contains(installed.as_str()) => Some(installed),
            _ => None,
        };
        let (keep, lose): (Vec<usize>, Vec<usize>) =
            members.iter().partition(|i| winner.as_deref() == Some(source_of(i)));
        for i in lose {
            let others: Vec<String> = members
                .iter()
                .filter(|j| source_of(j) != source_of(&i))
                .map(|j| format!("{} ({})", assignments[*j].assignment_id, source_of(j)))
                .collect();
            let message = format!(
                "template {name} from {} conflicts with the same template name from {}",
                source_of(&i),
                others.join(", ")
            );
            out.rejected.insert(i, ComplianceReason { code: ReasonCode::ConstraintTemplateConflicts, message });
        }
        if !keep.is_empty() {
            out.groups.push(TemplateGroup { name: name.to_string(), members: keep });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assignment(name: &str, definition: &str) -> ConstraintAssignment {
        serde_json::from_value(json!({
            "assignmentId": format!("/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/{name}"),
            "assignmentName": name, "definitionId": definition, "effect": "deny",
            "template": {"sourceType": "PublicURL", "url": "http://x"}
        }))
        .unwrap()
    }

    fn template(name: &str, source: &str, sync: bool) -> FetchedTemplate {
        FetchedTemplate {
            object: json!({}),
            name: name.into(),
            kind: name.into(),
            source: source.into(),
            requires_sync: vec![],
            declares_sync: sync,
        }
    }

    const BUILTIN: &str = "/providers/Microsoft.Authorization/policyDefinitions/95edb821";
    const CUSTOM: &str = "/subscriptions/s/providers/Microsoft.Authorization/policyDefinitions/mine";

    #[test]
    fn same_name_same_source_shares_one_template() {
        let a = [assignment("a", BUILTIN), assignment("b", BUILTIN)];
        let t = template("t", "u1", false);
        let p = plan(&a, &[Some(&t), Some(&t)], |_| None);
        assert_eq!(p.groups, vec![TemplateGroup { name: "t".into(), members: vec![0, 1] }]);
        assert!(p.rejected.is_empty());
    }

    #[test]
    fn a_conflict_keeps_the_installed_source_and_rejects_the_other() {
        let a = [assignment("a", BUILTIN), assignment("b", CUSTOM)];
        let (t1, t2) = (template("t", "u1", false), template("t", "u2", false));
        let p = plan(&a, &[Some(&t1), Some(&t2)], |_| Some("u1".into()));
        assert_eq!(p.groups, vec![TemplateGroup { name: "t".into(), members: vec![0] }]);
        let reason = &p.rejected[&1];
        assert_eq!(reason.code, ReasonCode::ConstraintTemplateConflicts);
        assert!(
            reason.message.contains("template t from u2 conflicts") && reason.message.contains("(u1)"),
            "{}",
            reason.message
        );

        let p = plan(&a, &[Some(&t1), Some(&t2)], |_| None);
        assert!(p.groups.is_empty(), "neither installed: both stay uninstalled");
        assert_eq!(p.rejected.len(), 2);
    }

    #[test]
    fn only_builtins_may_declare_sync_data() {
        let a = [assignment("a", BUILTIN), assignment("b", CUSTOM), assignment("c", CUSTOM)];
        let (t1, t2, t3) = (template("t1", "u1", true), template("t2", "u2", true), template("t3", "u3", false));
        let p = plan(&a, &[Some(&t1), Some(&t2), Some(&t3)], |_| None);
        assert_eq!(p.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["t1", "t3"]);
        assert_eq!(p.rejected[&1].code, ReasonCode::ConstraintTemplateInstallFailed);
        assert!(p.rejected[&1].message.contains("requires-sync-data"));
        assert!(is_builtin(BUILTIN) && !is_builtin(CUSTOM));
    }
}
