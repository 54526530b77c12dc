//! The add-on's Deployments tell the truth about its processes.
//!
//! No scheduler or kubelet runs here: the add-on's processes run supervised beside the cluster, so
//! nothing would ever fill their Deployments' status and `kubectl get deploy` would show `0/1` for
//! an add-on that works. This module stands in for the kubelet and the deployment controller in the
//! one way a user sees: while a process is up its Deployments report one ready replica, and once it
//! has exited, none.

use std::path::PathBuf;
use std::time::Duration;

use contracts::addon::AddonGeneration;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::current_objects::{AGENT_NAMESPACE, AUDIT_DEPLOYMENT, CONTROLLER_DEPLOYMENT, GATEKEEPER_NAMESPACE};
use super::{AGENT_ACCOUNT, AddonLifecycle, WEBHOOK_ACCOUNT, current_objects, objects};

/// How often a watcher looks at the processes. A crash shows in `kubectl get deploy` within this.
const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// Whether the admission process (the 2019 webhook, or Gatekeeper) and the agent are running.
pub type Liveness = [bool; 2];
const ADMISSION: usize = 0;
const AGENT: usize = 1;

/// The Deployments of `generation`'s add-on (`namespace` is the 2019 one's), each with the index in
/// [`Liveness`] of the process it stands for. Gatekeeper's one process plays both of its
/// Deployments, the webhook and controller manager and the audit.
fn deployments(generation: AddonGeneration, namespace: &str) -> Vec<(String, &'static str, usize)> {
    match generation {
        AddonGeneration::Preview2019 => {
            vec![(namespace.to_string(), WEBHOOK_ACCOUNT, ADMISSION), (namespace.to_string(), AGENT_ACCOUNT, AGENT)]
        }
        AddonGeneration::Current => vec![
            (GATEKEEPER_NAMESPACE.to_string(), CONTROLLER_DEPLOYMENT, ADMISSION),
            (GATEKEEPER_NAMESPACE.to_string(), AUDIT_DEPLOYMENT, ADMISSION),
            (AGENT_NAMESPACE.to_string(), current_objects::AGENT_ACCOUNT, AGENT),
        ],
    }
}

/// The namespace of Deployment `name` of `generation`'s add-on (`namespace` is the 2019 one's), if
/// the add-on has one by that name.
pub fn deployment_namespace(generation: AddonGeneration, namespace: &str, name: &str) -> Option<String> {
    deployments(generation, namespace).into_iter().find(|(_, n, _)| *n == name).map(|(ns, ..)| ns)
}

/// Writes `ready` (one replica or none) into the status subresource of Deployment `name`.
pub async fn report(client: &Client, ns: &str, name: &str, ready: bool) -> Result<(), kube::Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let generation = api.get(name).await?.metadata.generation;
    // In a merge patch `null` removes the field: the deployment controller omits zero counts, and
    // `unavailableReplicas` says it.
    let (up, unavailable) = if ready { (json!(1), 0) } else { (serde_json::Value::Null, 1) };
    let patch = json!({"status": {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": up,
        "availableReplicas": up,
        "unavailableReplicas": unavailable,
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}

/// Reports every Deployment of `generation`'s add-on.
pub async fn report_all(
    client: &Client,
    generation: AddonGeneration,
    namespace: &str,
    liveness: Liveness,
) -> Result<(), kube::Error> {
    for (ns, name, process) in deployments(generation, namespace) {
        objects::ignore_missing(report(client, &ns, name, liveness[process]).await)?;
    }
    Ok(())
}

/// Watches the install of `cluster_key` made in `dir` and reports every change of its processes'
/// liveness, until that install is gone (removed, reset or replaced by a newer one).
pub fn watch(lifecycle: AddonLifecycle, client: Client, cluster_key: String, dir: PathBuf) {
    tokio::spawn(async move {
        let mut last: Liveness = [true, true];
        loop {
            tokio::time::sleep(WATCH_PERIOD).await;
            let now = lifecycle
                .with_installed(&cluster_key, |i| {
                    (i.dir == dir).then(|| {
                        ([i.webhook.is_running(), i.agent.is_running()], i.generation, i.settings.namespace.clone())
                    })
                })
                .await;
            let Ok(Some((liveness, generation, namespace))) = now else { return };
            if liveness != last {
                tracing::info!(cluster = %cluster_key, admission = liveness[ADMISSION], agent = liveness[AGENT], "add-on process liveness changed");
                if let Err(e) = report_all(&client, generation, &namespace, liveness).await {
                    tracing::warn!(error = %e, "could not report the add-on's Deployment status");
                    continue;
                }
                last = liveness;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gatekeeper_plays_two_deployments_and_the_agent_one() {
        let current = deployments(AddonGeneration::Current, "azure-policy");
        let names: Vec<_> = current.iter().map(|(ns, name, p)| (ns.as_str(), *name, *p)).collect();
        assert_eq!(
            names,
            [
                ("gatekeeper-system", "gatekeeper-controller-manager", ADMISSION),
                ("gatekeeper-system", "gatekeeper-audit", ADMISSION),
                ("kube-system", "azure-policy", AGENT),
            ]
        );
        let preview = deployments(AddonGeneration::Preview2019, "azure-policy");
        assert_eq!(preview.len(), 2);
        assert!(preview.iter().all(|(ns, ..)| ns == "azure-policy"));
    }
}
