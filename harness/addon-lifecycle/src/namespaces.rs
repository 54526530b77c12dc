//! Namespace deletion and waiting for it. Deleting a namespace always costs kube-controller-manager's
//! fixed 5 s grace period before it empties it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};

use super::{LifecycleError, objects};

/// How long a deleted namespace may take to go.
const GONE_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until `ns` is gone if it is being deleted (an install cannot create objects in it).
pub async fn wait_gone_if_terminating(client: &kube::Client, ns: &str) -> Result<(), LifecycleError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let terminating =
        api.get_opt(ns).await?.and_then(|n| n.status).and_then(|s| s.phase).is_some_and(|phase| phase == "Terminating");
    if terminating { wait_gone(&api, ns).await } else { Ok(()) }
}

/// Deletes `ns`; with `wait`, waits until it is gone.
pub async fn delete(client: &kube::Client, ns: &str, wait: bool) -> Result<(), LifecycleError> {
    let api: Api<Namespace> = Api::all(client.clone());
    objects::ignore_missing(api.delete(ns, &DeleteParams::default()).await)?;
    if wait { wait_gone(&api, ns).await } else { Ok(()) }
}

async fn wait_gone(api: &Api<Namespace>, ns: &str) -> Result<(), LifecycleError> {
    let started = Instant::now();
    while api.get_opt(ns).await?.is_some() {
        if started.elapsed() > GONE_TIMEOUT {
            return Err(LifecycleError::NamespaceStuck(ns.to_string(), GONE_TIMEOUT));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
