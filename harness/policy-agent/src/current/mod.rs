//! The current-generation add-on agent (`policy-agent --generation current`, reference
//! `gatekeeper-v3-and-azure-addon.md` §3): like AKS's `azure-policy` pod, it turns
//! `Microsoft.Kubernetes.Data` assignments into Gatekeeper v3 ConstraintTemplates and Constraints and
//! reports what Gatekeeper's audit and admission found.
//!
//! * [`install_cycle`] (every 15 min by default): fetch the assignments; per assignment fetch its
//!   template ([`template_source`]), server-side apply it, wait for the template controller's verdict
//!   and the constraint CRD, then apply the Constraint ([`constraint_build`]); delete what no
//!   assignment wants; reconcile the sync `Config` ([`sync_config`]). Per-assignment reasons go into
//!   [`install_state::InstallState`], shared with the compliance cycle.
//! * [`compliance_cycle`] (every 15 min by default): Gatekeeper's audit and real-time results
//!   ([`gatekeeper_client`]) plus each Constraint's status → one report with a
//!   `ConstraintCompliance` per active assignment.
//!
//! ## Least privilege (RBAC the add-on lifecycle must grant)
//!
//! A `ClusterRole` bound to the agent's ServiceAccount, exactly [`cluster_rules`]:
//!
//! ```yaml
//! rules:
//! - apiGroups: ["templates.gatekeeper.sh"]
//!   resources: ["constrainttemplates"]
//!   verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
//! - apiGroups: ["constraints.gatekeeper.sh"]
//!   resources: ["*"]
//!   verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
//! - apiGroups: ["config.gatekeeper.sh"]
//!   resources: ["configs"]
//!   verbs: ["get", "create", "patch"]
//! - apiGroups: ["apiextensions.k8s.io"]
//!   resources: ["customresourcedefinitions"]
//!   verbs: ["get", "list", "watch"]
//! ```
//!
//! `create` + `patch` because every write is a server-side apply (a PATCH that may create; a
//! refused apply is explained by a dry-run create); `update` to revert a manual edit that added
//! fields (a forced apply leaves fields another manager owns, so the spec is replaced);
//! `get`/`watch` to wait for a template's status and a constraint CRD's `Established`; `list` to find
//! the add-on's objects (by label/annotation) and the generated constraint CRDs; `delete` for objects
//! no assignment wants. The agent only ever writes the `Config` named `config` in
//! `gatekeeper-system`; a lifecycle that wants it tighter can grant the `configs` rule through a
//! RoleBinding in `gatekeeper-system` instead.

pub mod cluster_objects;
pub mod compliance_cycle;
pub mod compliance_verdict;
pub mod constraint_build;
pub mod gatekeeper_client;
pub mod install_cycle;
pub mod install_plan;
pub mod install_state;
pub mod resources;
pub mod sync_config;
pub mod template_source;

use k8s_openapi::api::rbac::v1::PolicyRule;

/// The field manager of everything the agent applies (reference §3.2: the add-on's name).
pub const FIELD_MANAGER: &str = "azure-policy-addon";

/// The rules of the agent's ClusterRole (see the module documentation).
pub fn cluster_rules() -> Vec<PolicyRule> {
    let rule = |group: &str, resource: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    };
    let write = ["get", "list", "watch", "create", "patch", "update", "delete"];
    vec![
        rule("templates.gatekeeper.sh", "constrainttemplates", &write),
        rule("constraints.gatekeeper.sh", "*", &write),
        rule("config.gatekeeper.sh", "configs", &["get", "create", "patch"]),
        rule("apiextensions.k8s.io", "customresourcedefinitions", &["get", "list", "watch"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_rules_match_the_documented_yaml() {
        let rules = cluster_rules();
        assert_eq!(rules.len(), 4);
        let crd = &rules[3];
        assert_eq!(crd.api_groups.as_deref(), Some(&["apiextensions.k8s.io".to_string()][..]));
        assert_eq!(crd.verbs, ["get", "list", "watch"]);
        assert!(rules.iter().all(|r| !r.verbs.iter().any(|v| v == "*" || v == "deletecollection")));
        let configs = &rules[2];
        assert_eq!(configs.verbs, ["get", "create", "patch"]);
    }
}
