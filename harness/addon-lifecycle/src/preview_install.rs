//! The 2019 preview's install and removal: everything in namespace `azure-policy` (by default),
//! `policy-webhook` (Gatekeeper v2 with kube-mgmt) and the agent writing policy ConfigMaps.
//!
//! Install: the namespace, ServiceAccounts, least-privilege RBAC and Deployment objects; a serving
//! certificate; the webhook; the agent; the webhook configuration with the caBundle, proven in force
//! by a dry-run probe. Removal: the namespace and the cluster-scoped RBAC.

use std::time::Duration;

use contracts::addon::{AddonGeneration, AddonInstall};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams};
use policy_webhook::Registration;

use super::agent_start::{AgentWiring, start_agent};
use super::install_dir::InstallDir;
use super::processes::{self, AddonProcess};
use super::{AGENT_ACCOUNT, AddonSettings, Installed, LifecycleError, WEBHOOK_ACCOUNT, namespaces, objects};

/// Starts the 2019 add-on for `req`.
pub async fn start(
    cluster: &'static cluster::Cluster,
    dir: InstallDir,
    req: &AddonInstall,
    settings: AddonSettings,
) -> Result<Installed, LifecycleError> {
    let client = cluster.client();
    let ns = settings.namespace.clone();
    namespaces::wait_gone_if_terminating(&client, &ns).await?;
    objects::apply_all(&client, &ns, &settings.replicate_specs()?).await?;
    let agent_kubeconfig = dir.kubeconfig_for(cluster, &ns, AGENT_ACCOUNT).await?;
    let webhook_kubeconfig = dir.kubeconfig_for(cluster, &ns, WEBHOOK_ACCOUNT).await?;

    // The webhook's read endpoints carry cluster objects; only the agent gets their token.
    let mut webhook_cmd = processes::command_for(AddonProcess::Webhook)?;
    webhook_cmd
        .arg("serve")
        .arg("--policy-namespace")
        .arg(&ns)
        .arg(format!("--replicate={}", settings.replicate.join(",")));
    let webhook = processes::start_admission(
        cluster,
        &dir,
        AddonProcess::Webhook,
        webhook_cmd,
        "POLICY_WEBHOOK_READ_TOKEN",
        &webhook_kubeconfig,
    )
    .await?;

    let wiring = AgentWiring::to(&webhook, AddonGeneration::Preview2019, &agent_kubeconfig);
    let (agent, agent_url) = start_agent(&dir, req, &settings, wiring).await?;

    let mut registration =
        Registration::new(cluster.webhook().url(webhook.port, "/v1/admit"), webhook.serving.ca_pem.clone());
    registration.failure_policy = settings.failure_policy;
    if let Err(err) =
        policy_webhook::registration::register_and_wait(&client, &registration, Duration::from_secs(30)).await
    {
        // Nothing may stay registered for a webhook that is not installed: every request would
        // wait out its timeout (Ignore) or be refused (Fail).
        let _ = policy_webhook::registration::unregister(&client, &registration.name).await;
        return Err(err.into());
    }
    Ok(Installed {
        generation: AddonGeneration::Preview2019,
        settings,
        webhook: webhook.process,
        agent,
        webhook_url: webhook.url,
        agent_url,
        webhook_configuration: registration.name,
        dir: dir.path().to_path_buf(),
    })
}

/// Removes the 2019 add-on's objects (its processes are stopped and its webhook configuration gone).
/// `wait` waits until the namespace is gone.
pub async fn remove(client: &kube::Client, settings: &AddonSettings, wait: bool) -> Result<(), LifecycleError> {
    namespaces::delete(client, &settings.namespace, wait).await?;
    objects::delete_cluster_scoped(client, &settings.namespace).await?;
    Ok(())
}

/// Empties the namespace of policies (harness housekeeping, see `AddonLifecycle::reset`).
pub async fn remove_policies(client: &kube::Client, settings: &AddonSettings) -> Result<(), LifecycleError> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &settings.namespace);
    for cm in configmaps.list(&Default::default()).await?.items {
        let name = cm.metadata.name.unwrap_or_default();
        if contracts::policy_configmaps::is_policy(&name) {
            objects::ignore_missing(configmaps.delete(&name, &DeleteParams::default()).await)?;
        }
    }
    Ok(())
}
