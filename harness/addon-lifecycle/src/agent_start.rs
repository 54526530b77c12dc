//! Starting `policy-agent`, the same process for both generations: it talks to azure-sim's
//! dataplane as the cluster's service principal and to the admission process (the 2019 webhook or
//! Gatekeeper) with that process's read token. Only the generation flag and the 2019 policy
//! namespace differ.

use std::path::Path;

use contracts::addon::{AddonGeneration, AddonInstall};

use super::install_dir::InstallDir;
use super::processes::{self, AddonProcess, Admission};
use super::{AddonSettings, LifecycleError, http_client};

/// What the agent is connected to.
#[derive(Debug)]
pub struct AgentWiring<'a> {
    pub generation: AddonGeneration,
    /// The admission process as this machine calls it.
    pub webhook_url: &'a str,
    pub webhook_ca_file: &'a Path,
    /// The bearer token of the admission process's read endpoints. Passed through the
    /// environment (not argv, which `ps` shows), on every backend.
    pub read_token: &'a str,
    /// The agent's own identity in the cluster.
    pub kubeconfig: &'a Path,
}

impl<'a> AgentWiring<'a> {
    /// The agent of `generation`, acting as `kubeconfig`, connected to `admission`.
    pub fn to(admission: &'a Admission, generation: AddonGeneration, kubeconfig: &'a Path) -> Self {
        Self {
            generation,
            webhook_url: &admission.url,
            webhook_ca_file: &admission.serving.ca_file,
            read_token: &admission.read_token,
            kubeconfig,
        }
    }
}

/// Starts the agent and waits until its `/healthz` answers; returns it and its base URL.
pub async fn start_agent(
    dir: &InstallDir,
    req: &AddonInstall,
    settings: &AddonSettings,
    wiring: AgentWiring<'_>,
) -> Result<(cluster::Supervised, String), LifecycleError> {
    let mut cmd = processes::command_for(AddonProcess::Agent)?;
    cmd.env("REFRESH_INTERVAL", format!("{}ms", settings.refresh_interval.as_millis()))
        .env("AUDIT_INTERVAL", format!("{}ms", settings.audit_interval.as_millis()))
        .env("DATAPLANE_ENDPOINT", &req.dataplane_endpoint)
        .env("RESOURCE_ID", &req.cluster_id)
        .env("AZURE_TENANT_ID", &req.tenant_id)
        .env("AZURE_CLIENT_ID", &req.client_id)
        .env("AZURE_CLIENT_SECRET", &req.client_secret)
        .env("WEBHOOK_URL", wiring.webhook_url)
        .env("WEBHOOK_CA_FILE", wiring.webhook_ca_file)
        .env("WEBHOOK_READ_TOKEN", wiring.read_token)
        .env("KUBECONFIG", wiring.kubeconfig)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .arg("--addr-file")
        .arg(dir.file("agent.addr"));
    match wiring.generation {
        // Explicit, so an agent that cannot play today's add-on refuses to start.
        AddonGeneration::Current => cmd.arg("--generation").arg(AddonGeneration::Current.as_str()),
        AddonGeneration::Preview2019 => cmd.env("POLICY_NAMESPACE", &settings.namespace),
    };
    if let Some(pem) = &req.ca_pem {
        cmd.env("DATAPLANE_CA_FILE", dir.write("dataplane-ca.crt", pem)?);
    }
    processes::spawn_and_wait(
        "policy-agent",
        cmd,
        &dir.file("policy-agent.log"),
        &dir.file("agent.addr"),
        "http",
        "/healthz",
        &http_client(None),
    )
    .await
}
