//! The Kubernetes objects of today's add-on, as AKS installs them (reference
//! `gatekeeper-v3-and-azure-addon.md` §3.1): Gatekeeper in `gatekeeper-system` (ServiceAccount
//! `gatekeeper-admin`, Deployments `gatekeeper-controller-manager` and `gatekeeper-audit`) and the
//! agent in `kube-system` (ServiceAccount and Deployment `azure-policy`), each with a least-privilege
//! ClusterRole. The Deployments stand for processes running beside the cluster (`workload_status`).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams};
use serde_json::json;

use super::objects::{self, apply, cluster_role_binding, deployment, ignore_missing, meta};

/// Gatekeeper's namespace.
pub use gatekeeper::resources::GATEKEEPER_NAMESPACE;
/// Gatekeeper's identity.
pub const GATEKEEPER_ACCOUNT: &str = "gatekeeper-admin";
/// Where the agent runs.
pub const AGENT_NAMESPACE: &str = "kube-system";
/// The agent's identity and Deployment.
pub const AGENT_ACCOUNT: &str = "azure-policy";
/// Gatekeeper's webhook and controller Deployment.
pub const CONTROLLER_DEPLOYMENT: &str = "gatekeeper-controller-manager";
/// Gatekeeper's audit Deployment.
pub const AUDIT_DEPLOYMENT: &str = "gatekeeper-audit";
/// Gatekeeper's ClusterRole (and binding), as its manifests name it.
const GATEKEEPER_ROLE: &str = "gatekeeper-manager-role";
/// The agent's ClusterRole (and binding).
const AGENT_ROLE: &str = "azure-policy-addon";

/// What the `gatekeeper` process does in the API server, and nothing more:
/// * installs the ConstraintTemplate and Config CRDs and, per template, its constraint CRD;
/// * reads templates and writes their status (the template controller);
/// * reads constraints and writes their status (the audit);
/// * reads the sync `Config`;
/// * reads every kind: the audit lists what constraints match, the sync replicates `syncOnly` kinds.
fn gatekeeper_rules() -> serde_json::Value {
    let rule = |group: &str, resources: &[&str], verbs: &[&str]| json!({"apiGroups": [group], "resources": resources, "verbs": verbs});
    let read = ["get", "list", "watch"];
    let status = ["get", "patch", "update"];
    json!([
        rule(
            "apiextensions.k8s.io",
            &["customresourcedefinitions"],
            &["get", "list", "watch", "create", "patch", "update", "delete"]
        ),
        rule("templates.gatekeeper.sh", &["constrainttemplates"], &read),
        rule("templates.gatekeeper.sh", &["constrainttemplates/status"], &status),
        rule("constraints.gatekeeper.sh", &["*"], &read),
        rule("constraints.gatekeeper.sh", &["*/status"], &status),
        rule("config.gatekeeper.sh", &["configs"], &read),
        rule("*", &["*"], &read),
    ])
}

/// Creates (or repairs: server-side apply is idempotent) every object of today's add-on.
pub async fn apply_all(client: &Client) -> Result<(), kube::Error> {
    let mut namespace = meta(GATEKEEPER_NAMESPACE);
    // Gatekeeper's own manifest: its webhook does not judge its own namespace.
    namespace["labels"]["admission.gatekeeper.sh/ignore"] = json!("no-self-managing");
    apply(
        &Api::<Namespace>::all(client.clone()),
        GATEKEEPER_NAMESPACE,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": namespace}),
    )
    .await?;
    let agent_rules = serde_json::to_value(policy_agent::current::cluster_rules()).expect("PolicyRule serializes");
    let identities = [
        (GATEKEEPER_NAMESPACE, GATEKEEPER_ACCOUNT, GATEKEEPER_ROLE, gatekeeper_rules()),
        (AGENT_NAMESPACE, AGENT_ACCOUNT, AGENT_ROLE, agent_rules),
    ];
    for (ns, account, role, rules) in identities {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        apply(&accounts, account, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(account)}))
            .await?;
        apply(&Api::<ClusterRole>::all(client.clone()), role, json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(role), "rules": rules
        }))
        .await?;
        apply(&Api::<ClusterRoleBinding>::all(client.clone()), role, cluster_role_binding(role, account, ns)).await?;
    }
    let gatekeeper_deployments: Api<Deployment> = Api::namespaced(client.clone(), GATEKEEPER_NAMESPACE);
    for name in [CONTROLLER_DEPLOYMENT, AUDIT_DEPLOYMENT] {
        let object = deployment(name, "aks-policy-harness/gatekeeper:local", GATEKEEPER_ACCOUNT);
        apply(&gatekeeper_deployments, name, object).await?;
    }
    let agent_deployment = deployment(AGENT_ACCOUNT, "aks-policy-harness/policy-agent:local", AGENT_ACCOUNT);
    apply(&Api::<Deployment>::namespaced(client.clone(), AGENT_NAMESPACE), AGENT_ACCOUNT, agent_deployment).await?;
    Ok(())
}

/// Deletes what does not go with `gatekeeper-system`: the agent's objects in `kube-system` and both
/// ClusterRoles with their bindings.
pub async fn delete_outside_gatekeeper_namespace(client: &Client) -> Result<(), kube::Error> {
    let params = DeleteParams::default();
    ignore_missing(
        Api::<Deployment>::namespaced(client.clone(), AGENT_NAMESPACE).delete(AGENT_ACCOUNT, &params).await,
    )?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), AGENT_NAMESPACE);
    ignore_missing(accounts.delete(AGENT_ACCOUNT, &params).await)?;
    for role in [GATEKEEPER_ROLE, AGENT_ROLE] {
        objects::delete_cluster_role(client, role).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules are written out, not `*` verbs: Gatekeeper writes CRDs and status, and reads.
    #[test]
    fn gatekeeper_may_write_only_crds_and_status() {
        let rules = gatekeeper_rules();
        let writes: Vec<(String, String)> = rules
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["verbs"].as_array().unwrap().iter().any(|v| v == "patch"))
            .flat_map(|r| {
                let group = r["apiGroups"][0].as_str().unwrap().to_string();
                r["resources"].as_array().unwrap().iter().map(move |res| (group.clone(), res.as_str().unwrap().into()))
            })
            .collect();
        let expected = [
            ("apiextensions.k8s.io", "customresourcedefinitions"),
            ("templates.gatekeeper.sh", "constrainttemplates/status"),
            ("constraints.gatekeeper.sh", "*/status"),
        ];
        assert_eq!(writes, expected.map(|(g, r)| (g.to_string(), r.to_string())));
        assert!(rules.as_array().unwrap().iter().all(|r| r["verbs"].as_array().unwrap().iter().all(|v| v != "*")));
    }
}
