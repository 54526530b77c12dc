//! The add-on's Deployments tell the truth about its processes.
//!
//! No scheduler or kubelet runs here: the webhook and agent are supervised processes beside the
//! cluster, so nothing would ever fill their Deployments' status and `kubectl get deploy -n
//! azure-policy` would show `0/1` for an add-on that works. This module stands in for the kubelet
//! and the deployment controller in the one way a user sees: while a process is up its Deployment
//! reports one ready replica, and once it has exited, none.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{AGENT_ACCOUNT, AddonLifecycle, WEBHOOK_ACCOUNT, objects};

/// How often a watcher looks at the processes. A crash shows in `kubectl get deploy` within this.
const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// The Deployment of each process, in the order [`Liveness`] lists them.
const DEPLOYMENTS: [&str; 2] = [WEBHOOK_ACCOUNT, AGENT_ACCOUNT];

/// Whether the webhook and the agent are running.
pub type Liveness = [bool; 2];

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

/// Reports both Deployments.
pub async fn report_all(client: &Client, ns: &str, liveness: Liveness) -> Result<(), kube::Error> {
    for (name, ready) in DEPLOYMENTS.into_iter().zip(liveness) {
        objects::ignore_missing(report(client, ns, name, ready).await)?;
    }
    Ok(())
}

/// Watches the install of `cluster_key` made in `dir` and reports every change of its processes'
/// liveness, until that install is gone (removed, reset or replaced by a newer one).
pub fn watch(lifecycle: AddonLifecycle, client: Client, ns: String, cluster_key: String, dir: PathBuf) {
    tokio::spawn(async move {
        let mut last: Liveness = [true, true];
        loop {
            tokio::time::sleep(WATCH_PERIOD).await;
            let now = lifecycle
                .with_installed(&cluster_key, |i| {
                    (i.dir == dir).then(|| [i.webhook.is_running(), i.agent.is_running()])
                })
                .await;
            let Ok(Some(liveness)) = now else { return };
            if liveness != last {
                tracing::info!(cluster = %cluster_key, webhook = liveness[0], agent = liveness[1], "add-on process liveness changed");
                if let Err(e) = report_all(&client, &ns, liveness).await {
                    tracing::warn!(error = %e, "could not report the add-on's Deployment status");
                    continue;
                }
                last = liveness;
            }
        }
    });
}
