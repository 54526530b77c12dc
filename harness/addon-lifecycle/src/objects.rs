//! The Kubernetes objects the 2019 add-on consists of, as AKS installed them into `azure-policy`:
//! ServiceAccounts, least-privilege RBAC and Deployments (for `kubectl get` fidelity: without a
//! scheduler and kubelet their pods never run; the processes run beside the cluster instead), and
//! the object plumbing today's add-on (`current_objects`) shares.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource};
use policy_webhook::replication::ResourceSpec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// The agent's identity (the real add-on's Deployment was called `azure-policy`).
pub const AGENT_ACCOUNT: &str = "azure-policy";
/// The webhook's identity (Gatekeeper v2 + kube-mgmt).
pub const WEBHOOK_ACCOUNT: &str = "azure-policy-webhook";
/// Field manager for server-side apply.
pub const MANAGER: &str = "aks-policy-harness-addon";
/// Labels on everything the add-on owns, so removal can find it.
pub const ADDON_LABEL: (&str, &str) = ("kubernetes.azure.com/managedby", "aks-azure-policy-addon");

fn cluster_role_name(namespace: &str) -> String {
    format!("azure-policy-webhook-{namespace}")
}

/// Server-side applies `value` as object `name` (forced: the add-on owns these objects).
pub async fn apply<K>(api: &Api<K>, name: &str, value: serde_json::Value) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(value)).await.map(|_| ())
}

/// Metadata with the add-on's label.
pub fn meta(name: &str) -> serde_json::Value {
    json!({"name": name, "labels": {ADDON_LABEL.0: ADDON_LABEL.1}})
}

/// Creates (or repairs: server-side apply is idempotent) every object of the add-on.
pub async fn apply_all(client: &Client, ns: &str, replicate: &[ResourceSpec]) -> Result<(), kube::Error> {
    apply(
        &Api::<Namespace>::all(client.clone()),
        ns,
        json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns)
        }),
    )
    .await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    for sa in [AGENT_ACCOUNT, WEBHOOK_ACCOUNT] {
        apply(&accounts, sa, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(sa)})).await?;
    }
    // The agent: ConfigMaps in its own namespace, nothing else (policy-agent's crate docs list why).
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
    apply(&roles, AGENT_ACCOUNT, json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(AGENT_ACCOUNT),
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "get", "create", "update", "delete"]}]
    })).await?;
    // The webhook (kube-mgmt): watch policy ConfigMaps and patch their status annotation.
    apply(
        &roles,
        WEBHOOK_ACCOUNT,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(WEBHOOK_ACCOUNT),
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "patch"]}]
        }),
    )
    .await?;
    for sa in [AGENT_ACCOUNT, WEBHOOK_ACCOUNT] {
        apply(
            &bindings,
            sa,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(sa),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]
            }),
        )
        .await?;
    }
    // The webhook also reads the kinds it replicates, cluster-wide (referential policies need them).
    let rules: Vec<_> = replicate
        .iter()
        .map(|spec| json!({"apiGroups": [spec.group], "resources": [spec.resource], "verbs": ["get", "list", "watch"]}))
        .collect();
    let role_name = cluster_role_name(ns);
    apply(&Api::<ClusterRole>::all(client.clone()), &role_name, json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(&role_name), "rules": rules
    })).await?;
    let binding = cluster_role_binding(&role_name, WEBHOOK_ACCOUNT, ns);
    apply(&Api::<ClusterRoleBinding>::all(client.clone()), &role_name, binding).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for (name, image, account) in [
        (AGENT_ACCOUNT, "aks-policy-harness/policy-agent:local", AGENT_ACCOUNT),
        (WEBHOOK_ACCOUNT, "aks-policy-harness/policy-webhook:local", WEBHOOK_ACCOUNT),
    ] {
        apply(&deployments, name, deployment(name, image, account)).await?;
    }
    Ok(())
}

/// A one-replica Deployment of `image` running as `account` (its status comes from
/// `workload_status`).
pub fn deployment(name: &str, image: &str, account: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"serviceAccountName": account,
                                       "containers": [{"name": name, "image": image}]}}}
    })
}

/// A ClusterRoleBinding of ClusterRole `role` (same name) to ServiceAccount `account` of `ns`.
pub fn cluster_role_binding(role: &str, account: &str, ns: &str) -> serde_json::Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(role),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
    })
}

/// A bearer token for a ServiceAccount through the TokenRequest API (no token controller needed).
pub async fn service_account_token(client: &Client, ns: &str, account: &str) -> Result<String, kube::Error> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 86400}
    }))
    .expect("static TokenRequest");
    let response = accounts.create_token_request(account, &Default::default(), &request).await?;
    Ok(response.status.and_then(|s| s.token).unwrap_or_default())
}

/// Deletes the cluster-scoped RBAC objects (namespaced ones go with the namespace).
pub async fn delete_cluster_scoped(client: &Client, ns: &str) -> Result<(), kube::Error> {
    delete_cluster_role(client, &cluster_role_name(ns)).await
}

/// Deletes ClusterRoleBinding and ClusterRole `name`, if there.
pub async fn delete_cluster_role(client: &Client, name: &str) -> Result<(), kube::Error> {
    ignore_missing(Api::<ClusterRoleBinding>::all(client.clone()).delete(name, &DeleteParams::default()).await)?;
    ignore_missing(Api::<ClusterRole>::all(client.clone()).delete(name, &DeleteParams::default()).await)?;
    Ok(())
}

pub fn ignore_missing<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
