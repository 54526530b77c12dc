//! Today's add-on's install (design point 7): Gatekeeper v3 in `gatekeeper-system` and the agent in
//! `kube-system`, as AKS runs them (reference `gatekeeper-v3-and-azure-addon.md` §3.1).
//!
//! 1. the namespace, ServiceAccounts, least-privilege ClusterRoles and Deployment objects
//!    (`current_objects`);
//! 2. a serving certificate for `validation.gatekeeper.sh` from a fresh CA;
//! 3. `gatekeeper` (template controller, webhook, audit), ready once its CRDs are established and its
//!    caches filled (`/readyz`);
//! 4. the webhook configuration with the caBundle, proven in force by a dry-run probe;
//! 5. `policy-agent --generation current`, which installs templates and constraints from the
//!    assignments and reports what Gatekeeper found.

use std::time::Duration;

use contracts::addon::{AddonGeneration, AddonInstall};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, Patch, PatchParams};
use policy_webhook::FailurePolicy;

use super::agent_start::{AgentWiring, start_agent};
use super::current_objects::{self, AGENT_ACCOUNT, AGENT_NAMESPACE, GATEKEEPER_ACCOUNT, GATEKEEPER_NAMESPACE};
use super::install_dir::InstallDir;
use super::processes::{self, AddonProcess};
use super::{AddonSettings, Installed, LifecycleError, namespaces};

/// Gatekeeper's own audit period (its `--audit-interval` default).
const GATEKEEPER_AUDIT_INTERVAL: Duration = Duration::from_secs(60);
/// How long the API server may take to start calling a newly registered webhook.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts today's add-on for `req`.
pub async fn start(
    cluster: &'static cluster::Cluster,
    dir: InstallDir,
    req: &AddonInstall,
    settings: AddonSettings,
) -> Result<Installed, LifecycleError> {
    let client = cluster.client();
    namespaces::wait_gone_if_terminating(&client, GATEKEEPER_NAMESPACE).await?;
    current_objects::apply_all(&client).await?;
    let gatekeeper_kubeconfig = dir.kubeconfig_for(cluster, GATEKEEPER_NAMESPACE, GATEKEEPER_ACCOUNT).await?;
    let agent_kubeconfig = dir.kubeconfig_for(cluster, AGENT_NAMESPACE, AGENT_ACCOUNT).await?;

    // Gatekeeper's audit and denial endpoints carry cluster objects; only the agent gets their token.
    let mut gatekeeper_cmd = processes::command_for(AddonProcess::Gatekeeper)?;
    gatekeeper_cmd.arg(format!("--audit-interval={}ms", gatekeeper_audit_interval(&settings).as_millis()));
    let gatekeeper = processes::start_admission(
        cluster,
        &dir,
        AddonProcess::Gatekeeper,
        gatekeeper_cmd,
        "GATEKEEPER_READ_TOKEN",
        &gatekeeper_kubeconfig,
    )
    .await?;

    let admit_url = cluster.webhook().url(gatekeeper.port, "/v1/admit");
    if let Err(err) = register(&client, &admit_url, &gatekeeper.serving.ca_pem, settings.failure_policy).await {
        // Nothing may stay registered for a webhook that is not installed.
        let _ = gatekeeper::webhook::registration::unregister(&client).await;
        return Err(err);
    }

    let wiring = AgentWiring::to(&gatekeeper, AddonGeneration::Current, &agent_kubeconfig);
    let (agent, agent_url) = start_agent(&dir, req, &settings, wiring).await?;
    Ok(Installed {
        generation: AddonGeneration::Current,
        settings,
        webhook: gatekeeper.process,
        agent,
        webhook_url: gatekeeper.url,
        agent_url,
        webhook_configuration: gatekeeper::webhook::registration::CONFIGURATION_NAME.to_string(),
        dir: dir.path().to_path_buf(),
    })
}

/// Gatekeeper audits at its default period, or at the agent's when that is shorter: a compliance
/// report then never reads an audit older than one of its own periods.
fn gatekeeper_audit_interval(settings: &AddonSettings) -> Duration {
    GATEKEEPER_AUDIT_INTERVAL.min(settings.audit_interval)
}

/// Registers `validation.gatekeeper.sh` and waits until the API server calls it. Gatekeeper
/// registers `failurePolicy: Ignore`; the chart's `Fail` is set on top.
async fn register(
    client: &kube::Client,
    admit_url: &str,
    ca_pem: &str,
    failure_policy: FailurePolicy,
) -> Result<(), LifecycleError> {
    gatekeeper::webhook::registration::register_and_wait(client, admit_url, ca_pem, REGISTRATION_TIMEOUT).await?;
    if failure_policy != FailurePolicy::Ignore {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        // `webhooks` merges by `name` in a strategic merge patch: only this field changes.
        let patch = serde_json::json!({"webhooks": [{
            "name": policy_webhook::registration::DEFAULT_VALIDATING_WEBHOOK_NAME, "failurePolicy": failure_policy.as_str()
        }]});
        let name = gatekeeper::webhook::registration::CONFIGURATION_NAME;
        api.patch(name, &PatchParams::default(), &Patch::Strategic(patch)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gatekeeper_audits_at_least_as_often_as_the_agent_reports() {
        let mut settings = AddonSettings::for_generation(AddonGeneration::Current);
        assert_eq!(gatekeeper_audit_interval(&settings), GATEKEEPER_AUDIT_INTERVAL);
        settings.audit_interval = Duration::from_secs(5);
        assert_eq!(gatekeeper_audit_interval(&settings), Duration::from_secs(5));
    }
}
