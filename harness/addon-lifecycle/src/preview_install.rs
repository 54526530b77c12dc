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
use super::install_dir::{InstallDir, local_webhook_url};
use super::processes::{self, AddonProcess};
use super::{
    AGENT_ACCOUNT, AddonSettings, Installed, LifecycleError, WEBHOOK_ACCOUNT, http_client, namespaces, objects,
};

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
    let serving = dir.issue_serving_certificate(cluster)?;
    let host = cluster.webhook();

    // The webhook's read endpoints carry cluster objects; only the agent gets their token.
    let read_token = pki::random_token();
    let mut webhook_cmd = processes::command_for(AddonProcess::Webhook)?;
    webhook_cmd
        .env("POLICY_WEBHOOK_READ_TOKEN", &read_token)
        .arg("serve")
        .arg(format!("--listen={}", host.listen_addr()))
        .arg("--tls-cert-file")
        .arg(&serving.cert_file)
        .arg("--tls-key-file")
        .arg(&serving.key_file)
        .arg("--addr-file")
        .arg(dir.file("webhook.addr"))
        .arg("--policy-namespace")
        .arg(&ns)
        .arg(format!("--replicate={}", settings.replicate.join(",")))
        .arg("--kubeconfig")
        .arg(&webhook_kubeconfig)
        .env("RUST_LOG", "info");
    let (webhook, webhook_base) = processes::spawn_and_wait(
        "policy-webhook",
        webhook_cmd,
        &dir.file("policy-webhook.log"),
        &dir.file("webhook.addr"),
        "https",
        "/readyz",
        &http_client(Some(&serving.ca_pem)),
    )
    .await?;
    let (port, webhook_url) = local_webhook_url(host, &webhook_base);

    let wiring = AgentWiring {
        generation: AddonGeneration::Preview2019,
        webhook_url: &webhook_url,
        webhook_ca_file: &serving.ca_file,
        read_token: &read_token,
        kubeconfig: &agent_kubeconfig,
    };
    let (agent, agent_url) = start_agent(&dir, req, &settings, wiring).await?;

    let mut registration = Registration::new(host.url(port, "/v1/admit"), serving.ca_pem);
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
        webhook,
        agent,
        webhook_url,
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
