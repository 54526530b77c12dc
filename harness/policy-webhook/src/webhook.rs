//! Putting the parts together: the HTTPS server, the ConfigMap loader and the replicators in one
//! process, as Gatekeeper v2's manager, OPA and kube-mgmt ran side by side in one Pod.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use policy_engine::PolicyEngine;
use tokio::task::JoinHandle;

use crate::error::WebhookError;
use crate::policy_loader::PolicyLoader;
use crate::replication::{self, DEFAULT_REPLICATE, ResourceSpec};
use crate::server::{self, TlsSource};
use crate::shared_engine::SharedEngine;
use crate::state::AppState;

/// Default `/v1/admit` body limit: 3 MiB, the API server's own request size limit, so any object
/// the API server accepts can be reviewed.
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Default capacity of the `/v1/denials` ring buffer.
pub const DEFAULT_DENIALS_CAPACITY: usize = 4096;

/// How to run the webhook.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Listen address; port 0 picks a free port (see [`RunningWebhook::addr`]).
    pub listen: SocketAddr,
    pub tls: TlsSource,
    /// Namespace whose ConfigMaps are the policies (kube-mgmt `--policies`).
    pub policy_namespace: String,
    /// Resources to replicate into `data.kubernetes`.
    pub replicate: Vec<ResourceSpec>,
    pub max_body_bytes: usize,
    pub denials_capacity: usize,
    /// Bearer token `/v1/audit` and `/v1/denials` require ([`contracts::credential`]). `None`: open
    /// on a loopback address, generated on any other ([`RunningWebhook::read_token`]).
    pub read_token: Option<String>,
}

impl WebhookOptions {
    /// Loopback on a free port, namespace `azure-policy`, the default replicated resources.
    pub fn new(tls: TlsSource) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            policy_namespace: "azure-policy".to_string(),
            replicate: DEFAULT_REPLICATE.iter().map(|s| s.parse().expect("default specs parse")).collect(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            denials_capacity: DEFAULT_DENIALS_CAPACITY,
            read_token: None,
        }
    }
}

/// A webhook serving in this process. Dropping it does not stop it; call [`Self::shutdown`].
#[derive(Debug)]
pub struct RunningWebhook {
    addr: SocketAddr,
    state: Arc<AppState>,
    handle: Handle<SocketAddr>,
    server: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

/// Starts the webhook. With a `client`, policies come from ConfigMaps and objects are replicated;
/// without one (benchmarks, tests without an API server) it serves `engine` as given and is ready
/// at once.
pub async fn start(
    options: WebhookOptions,
    client: Option<kube::Client>,
    engine: PolicyEngine,
) -> Result<RunningWebhook, WebhookError> {
    let preloaded = engine.module_ids().len();
    let read_token = options
        .read_token
        .clone()
        .or_else(|| contracts::credential::required_for(options.listen.ip()).then(pki::random_token));
    let state = Arc::new(
        AppState::new(SharedEngine::new(engine), options.denials_capacity, options.max_body_bytes)
            .with_read_token(read_token),
    );
    state.metrics.set_modules(preloaded, 0);
    let mut background = Vec::new();
    match client {
        Some(client) => {
            let loader = PolicyLoader::new(state.clone(), options.policy_namespace.clone());
            background.push(tokio::spawn(loader.run(client.clone())));
            for spec in options.replicate.clone() {
                state.readiness.replicator_started();
                let (client, state) = (client.clone(), state.clone());
                background.push(tokio::spawn(async move {
                    if let Err(e) = replication::replicate(client, spec.clone(), state.clone()).await {
                        tracing::error!(resource = %spec, error = %e, "not replicating");
                        state.readiness.replicator_synced();
                    }
                }));
            }
        }
        None => state.readiness.set_policies_loaded(),
    }
    let handle = Handle::new();
    let router = server::router(state.clone());
    let (addr, server) = match server::serve(options.listen, &options.tls, router, handle.clone()).await {
        Ok(bound) => bound,
        Err(e) => {
            background.iter().for_each(JoinHandle::abort);
            return Err(e);
        }
    };
    tracing::info!(%addr, policy_namespace = %options.policy_namespace, "policy-webhook listening");
    Ok(RunningWebhook { addr, state, handle, server, background })
}

impl RunningWebhook {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `https://<addr>/v1/admit`, what goes into the webhook configuration.
    pub fn admit_url(&self) -> String {
        format!("{}/v1/admit", self.base_url())
    }

    /// The token `/v1/audit` and `/v1/denials` require, if any: the configured one, or one generated
    /// because the listener is reachable beyond loopback.
    pub fn read_token(&self) -> Option<&str> {
        self.state.read_token.as_deref()
    }

    /// The shared state (engine snapshot, metrics, denials, readiness).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Waits until `/readyz` would say ready (initial ConfigMap list loaded).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), WebhookError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if self.state.readiness.report().ready {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WebhookError::Timeout(timeout, "the initial policy list".to_string()));
            }
        }
    }

    /// Stops serving (open connections get a second to finish) and stops the watchers.
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        for task in &self.background {
            task.abort();
        }
        let _ = self.server.await;
    }
}
