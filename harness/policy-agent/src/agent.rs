//! Wires the parts together from a [`Config`]: clients, the two loops of the configured add-on
//! generation and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use contracts::AddonGeneration;

use crate::audit_cycle::AuditCycle;
use crate::backoff::RetryPolicy;
use crate::config::Config;
use crate::configmap_cache::ConfigMapStore;
use crate::current::compliance_cycle::ComplianceCycle;
use crate::current::gatekeeper_client::GatekeeperClient;
use crate::current::install_cycle::InstallCycle;
use crate::current::install_state::InstallState;
use crate::dataplane_client::DataplaneClient;
use crate::http_client::{self, HttpError};
use crate::metrics::Metrics;
use crate::refresh_cycle::{RefreshCycle, RefreshState, policy_engine_filler};
use crate::reporting::Reporter;
use crate::server::{ServerState, router};
use crate::token::TokenSource;
use crate::triggers::CycleLoop;
use crate::webhook_client::WebhookClient;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("HTTP client: {0}")]
    Http(#[from] HttpError),
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("writing the address file: {0}")]
    AddrFile(std::io::Error),
}

/// A running agent.
pub struct AgentHandle {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub refresh: CycleLoop,
    pub audit: CycleLoop,
    server: tokio::task::JoinHandle<()>,
}

impl AgentHandle {
    /// Waits for the HTTP server (runs until the process ends).
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}

/// Builds the Kubernetes client from `KUBECONFIG` (the agent's ServiceAccount identity) or, without
/// one, by the usual inference (in-cluster config).
pub async fn kube_client(path: Option<&std::path::Path>) -> Result<kube::Client, StartError> {
    let err = |e: &dyn std::fmt::Display| StartError::Kubeconfig(e.to_string());
    let config = match path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| err(&e))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| err(&e))?
        }
        None => kube::Config::infer().await.map_err(|e| err(&e))?,
    };
    kube::Client::try_from(config).map_err(|e| err(&e))
}

/// Starts everything. The refresh loop runs once right away (policies should be in place as soon
/// as the add-on is up); the first audit waits one interval, as in the real add-on.
pub async fn start(cfg: Config) -> Result<AgentHandle, StartError> {
    let metrics = Arc::new(Metrics::default());
    let retry = RetryPolicy::new(6, Duration::from_millis(200), cfg.retry_cap);
    let dp_http = http_client::build(cfg.dataplane_ca_file.as_deref(), cfg.http_timeout, true)?;
    let token =
        Arc::new(TokenSource::new(dp_http.clone(), &cfg.dataplane_endpoint, &cfg.client_id, &cfg.client_secret, retry));
    let dataplane = Arc::new(DataplaneClient::new(dp_http, &cfg.dataplane_endpoint, &cfg.resource_id, token, retry));
    let wh_http = http_client::build(cfg.webhook_ca_file.as_deref(), cfg.http_timeout, true)?;
    let webhook_retry = RetryPolicy::new(3, Duration::from_millis(200), Duration::from_secs(2));
    let kube = kube_client(cfg.kubeconfig.as_deref()).await?;
    let report_retry = RetryPolicy::new(10, Duration::from_millis(200), cfg.retry_cap);
    let reporter = Reporter::new(dataplane.clone(), report_retry, cfg.report_queue_capacity, metrics.clone());
    let (refresh_every, audit_every) = (cfg.refresh_every(), cfg.audit_every());

    let (refresh, audit) = match cfg.generation {
        AddonGeneration::Preview2019 => {
            let webhook = WebhookClient::new(wh_http, &cfg.webhook_url, webhook_retry)
                .with_read_token(cfg.webhook_read_token.clone());
            let store = ConfigMapStore::new(kube, &cfg.policy_namespace);
            let refresh_state = Arc::new(RefreshState::default());
            let refresh = Arc::new(RefreshCycle::new(
                dataplane.clone(),
                store,
                policy_engine_filler(),
                refresh_state.clone(),
                metrics.clone(),
            ));
            let audit = Arc::new(AuditCycle::new(dataplane, webhook, refresh_state, reporter, metrics.clone()));
            (
                CycleLoop::spawn(refresh, refresh_every, Duration::ZERO, metrics.clone()),
                CycleLoop::spawn(audit, audit_every, audit_every, metrics.clone()),
            )
        }
        AddonGeneration::Current => {
            let gatekeeper =
                GatekeeperClient::new(wh_http, &cfg.webhook_url, webhook_retry, cfg.webhook_read_token.clone());
            let install_state = Arc::new(InstallState::default());
            let refresh =
                Arc::new(InstallCycle::new(dataplane.clone(), kube.clone(), install_state.clone(), metrics.clone()));
            let audit =
                Arc::new(ComplianceCycle::new(dataplane, gatekeeper, kube, install_state, reporter, metrics.clone()));
            (
                CycleLoop::spawn(refresh, refresh_every, Duration::ZERO, metrics.clone()),
                CycleLoop::spawn(audit, audit_every, audit_every, metrics.clone()),
            )
        }
    };

    let listener = tokio::net::TcpListener::bind(cfg.listen_addr)
        .await
        .map_err(|source| StartError::Bind { addr: cfg.listen_addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: cfg.listen_addr, source })?;
    if let Some(path) = &cfg.addr_file {
        // Write then rename, so a reader never sees a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, addr.to_string())
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(StartError::AddrFile)?;
    }
    tracing::info!(
        %addr,
        generation = cfg.generation.as_str(),
        namespace = %cfg.policy_namespace,
        cluster = %cfg.resource_id,
        "policy-agent listening"
    );
    let app = router(ServerState { metrics: metrics.clone(), refresh: refresh.clone(), audit: audit.clone() });
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(AgentHandle { addr, metrics, refresh, audit, server })
}
