//! The add-on lifecycle: what AKS did when `az aks enable-addons --addons azure-policy` or
//! `disable-addons` ran. azure-sim calls it through its `AddonController` trait; the harness owns it
//! because only the harness knows the Kubernetes cluster.
//!
//! Which add-on a cluster gets is its subscription's choice in azure-sim
//! ([`AddonInstall::generation`]), and each generation has its own install:
//! * today's add-on ([`current_install`]): Gatekeeper v3 in `gatekeeper-system` and the agent in
//!   `kube-system`, driven by `Microsoft.Kubernetes.Data` assignments;
//! * the 2019 preview ([`preview_install`]): `policy-webhook` (Gatekeeper v2) and the agent in
//!   `azure-policy`, driven by Rego in ConfigMaps.
//!
//! **Install** (idempotent; a half-finished earlier install is repaired): the objects (namespace,
//! ServiceAccounts, least-privilege RBAC, Deployments), a serving certificate from a fresh CA, the
//! processes with their own ServiceAccount tokens, and the webhook configuration with the caBundle,
//! proven in force by a dry-run probe. The Deployments report the processes' liveness (`kubectl get
//! deploy` shows `1/1`, or `0/1` after a crash): see `workload_status`.
//!
//! **Uninstall**: the webhook configuration first (so nothing is denied after removal), then the
//! processes, then what the add-on put into the cluster, waiting until it is gone.
//!
//! The add-on is cluster-wide, as on AKS: its webhook sees every namespace. So one managed cluster
//! at a time holds the real cluster's add-on; an install for another managed cluster replaces it
//! (with a warning), which is why scenarios run one at a time by default.

mod agent_start;
mod current_install;
mod current_objects;
mod current_removal;
mod install_dir;
mod namespaces;
mod objects;
mod preview_install;
mod processes;
mod settings;
mod workload_status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::addon::{AddonError, AddonGeneration, AddonInstall};
use contracts::agent::Cycle;

use current_removal::Removal;
use install_dir::InstallDir;
pub use objects::{AGENT_ACCOUNT, WEBHOOK_ACCOUNT};
pub use processes::{AddonProcess, dispatch_addon_process};
pub use settings::AddonSettings;
pub use workload_status::deployment_namespace;

/// What can go wrong installing or removing the add-on. Messages end up in the LRO's error.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
    #[error(
        "{name} not found (looked in {searched}); this executable cannot start the add-on itself (its main does not call dispatch_addon_process): run it through `harness`, or build the binary with `cargo build -p {name}` and set AKS_HARNESS_BIN_DIR"
    )]
    BinaryMissing { name: String, searched: String },
    #[error("{name} did not become ready: {why}; log {}:\n{tail}", log.display())]
    NotReady { name: String, why: String, log: PathBuf, tail: String },
    #[error("webhook registration: {0}")]
    Registration(#[from] policy_webhook::RegistrationError),
    #[error("namespace {0} still exists {1:?} after deletion")]
    NamespaceStuck(String, Duration),
    #[error("{what} still exist {after:?} after deletion")]
    RemovalStuck { what: String, after: Duration },
    #[error("{context}: {message}")]
    Io { context: String, message: String },
    #[error("the add-on is not installed for {0}")]
    NotInstalled(String),
    #[error("agent trigger failed: {0}")]
    Trigger(String),
}

/// What azure-sim reads of a failure: the kind of trouble, with this error's message (which users
/// read in the failed operation).
impl From<LifecycleError> for AddonError {
    fn from(e: LifecycleError) -> Self {
        let message = e.to_string();
        match e {
            LifecycleError::BinaryMissing { .. } | LifecycleError::NotReady { .. } | LifecycleError::Cluster(_) => {
                AddonError::NotReady(message)
            }
            LifecycleError::Kube(_)
            | LifecycleError::Registration(_)
            | LifecycleError::NamespaceStuck(..)
            | LifecycleError::RemovalStuck { .. } => AddonError::Kubernetes(message),
            LifecycleError::Pki(_) | LifecycleError::Io { .. } => AddonError::Setup(message),
            LifecycleError::NotInstalled(cluster_id) => AddonError::NotInstalled(cluster_id),
            LifecycleError::Trigger(why) => AddonError::TriggerFailed(why),
        }
    }
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> LifecycleError + '_ {
    move |e| LifecycleError::Io { context: context.to_string(), message: e.to_string() }
}

/// A running add-on of either generation: its admission process and its agent.
#[derive(Debug)]
pub struct Installed {
    pub generation: AddonGeneration,
    pub settings: AddonSettings,
    /// The admission process: `gatekeeper` (today's add-on) or `policy-webhook` (the 2019 preview).
    pub webhook: cluster::Supervised,
    pub agent: cluster::Supervised,
    /// The admission process as this machine calls it (its read endpoints: status, audit, denials).
    pub webhook_url: String,
    pub agent_url: String,
    /// The webhook configuration registered for it, removed first on uninstall.
    pub webhook_configuration: String,
    /// The install's files: certificates, kubeconfigs, addresses and logs.
    pub dir: PathBuf,
}

/// Installs and removes the add-on in one real cluster. Cheap to clone.
#[derive(Clone)]
pub struct AddonLifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: &'static cluster::Cluster,
    run_dir: PathBuf,
    settings: Mutex<HashMap<String, AddonSettings>>,
    /// `harness up`'s settings; else each generation's defaults.
    defaults: Mutex<Option<AddonSettings>>,
    installs: tokio::sync::Mutex<HashMap<String, Installed>>,
    counter: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for AddonLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddonLifecycle").field("run_dir", &self.inner.run_dir).finish_non_exhaustive()
    }
}

/// A reqwest client that trusts only `ca_pem` (or nothing extra, for plain HTTP).
pub fn http_client(ca_pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if let Some(ca) = ca_pem.and_then(|pem| reqwest::Certificate::from_pem(pem.as_bytes()).ok()) {
        builder = builder.tls_certs_only([ca]);
    }
    builder.build().expect("http client")
}

impl AddonLifecycle {
    pub fn new(cluster: &'static cluster::Cluster, run_dir: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                cluster,
                run_dir: run_dir.into(),
                settings: Mutex::new(HashMap::new()),
                defaults: Mutex::new(None),
                installs: tokio::sync::Mutex::new(HashMap::new()),
                counter: Default::default(),
            }),
        }
    }

    /// Settings for the next install of `cluster_id` (defaults otherwise).
    pub fn configure(&self, cluster_id: &str, settings: AddonSettings) {
        self.inner.settings.lock().unwrap().insert(cluster_id.to_ascii_lowercase(), settings);
    }

    /// Settings for installs of every managed cluster without settings of its own (`harness up`'s
    /// intervals). Without them each generation gets its own defaults.
    pub fn configure_defaults(&self, settings: AddonSettings) {
        *self.inner.defaults.lock().unwrap() = Some(settings);
    }

    fn settings_for(&self, cluster_id: &str, generation: AddonGeneration) -> AddonSettings {
        let own = self.inner.settings.lock().unwrap().get(&cluster_id.to_ascii_lowercase()).cloned();
        own.or_else(|| self.inner.defaults.lock().unwrap().clone())
            .unwrap_or_else(|| AddonSettings::for_generation(generation))
    }

    /// Runs `f` on the install of `cluster_id`.
    pub async fn with_installed<T>(
        &self,
        cluster_id: &str,
        f: impl FnOnce(&mut Installed) -> T,
    ) -> Result<T, LifecycleError> {
        let mut installs = self.inner.installs.lock().await;
        installs
            .get_mut(&cluster_id.to_ascii_lowercase())
            .map(f)
            .ok_or_else(|| LifecycleError::NotInstalled(cluster_id.to_string()))
    }

    /// Is any add-on installed?
    pub async fn installed_clusters(&self) -> Vec<String> {
        self.inner.installs.lock().await.keys().cloned().collect()
    }

    /// Installs the add-on of `req.generation` for `req.cluster_id`.
    pub async fn install(&self, req: &AddonInstall) -> Result<(), LifecycleError> {
        let key = req.cluster_id.to_ascii_lowercase();
        let mut installs = self.inner.installs.lock().await;
        if let Some(existing) = installs.get_mut(&key) {
            if existing.generation == req.generation && existing.webhook.is_running() && existing.agent.is_running() {
                return Ok(());
            }
            // A crashed process (or the other generation): tear down what is left and install again.
            let stale = installs.remove(&key).expect("present");
            self.stop_installed(stale, false).await?;
        }
        if let Some(other) = installs.keys().next() {
            tracing::warn!(%other, "another managed cluster holds the add-on; it is replaced");
            let other = other.clone();
            let stale = installs.remove(&other).expect("present");
            self.stop_installed(stale, false).await?;
        }
        let settings = self.settings_for(&req.cluster_id, req.generation);
        let n = self.inner.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = InstallDir::create(self.inner.run_dir.join(format!("addon-{n}")))?;
        let started = Instant::now();
        let cluster = self.inner.cluster;
        let installed = match req.generation {
            AddonGeneration::Current => current_install::start(cluster, dir, req, settings).await?,
            AddonGeneration::Preview2019 => preview_install::start(cluster, dir, req, settings).await?,
        };
        let generation = req.generation.as_str();
        tracing::info!(cluster = %req.cluster_id, generation, seconds = started.elapsed().as_secs_f64(), "add-on installed");
        let client = cluster.client();
        workload_status::report_all(&client, installed.generation, &installed.settings.namespace, [true, true]).await?;
        workload_status::watch(self.clone(), client, key.clone(), installed.dir.clone());
        installs.insert(key, installed);
        Ok(())
    }

    /// Removes the add-on of `cluster_id`. `wait_for_namespace` waits until its namespace is gone;
    /// without it the namespace is left terminating, and the next install waits for it.
    pub async fn uninstall(&self, cluster_id: &str, wait_for_namespace: bool) -> Result<(), LifecycleError> {
        let mut installs = self.inner.installs.lock().await;
        if let Some(installed) = installs.remove(&cluster_id.to_ascii_lowercase()) {
            return self.stop_installed(installed, wait_for_namespace).await;
        }
        if !installs.is_empty() {
            // Another managed cluster holds the add-on: nothing in the cluster is this one's.
            return Ok(());
        }
        // Idempotent: a crash, or a restarted harness, may have left either generation's objects.
        let client = self.inner.cluster.client();
        for name in [policy_webhook::registration::DEFAULT_CONFIGURATION_NAME, gatekeeper_configuration()] {
            policy_webhook::registration::unregister(&client, name).await?;
        }
        let settings = self.settings_for(cluster_id, AddonGeneration::Preview2019);
        preview_install::remove(&client, &settings, wait_for_namespace).await?;
        current_removal::remove(&client, Removal::Everything { wait_for_namespace }).await
    }

    async fn stop_installed(&self, installed: Installed, wait_for_namespace: bool) -> Result<(), LifecycleError> {
        let (generation, settings) = (installed.generation, installed.settings.clone());
        let client = self.stop_processes(installed).await?;
        match generation {
            AddonGeneration::Current => {
                current_removal::remove(&client, Removal::Everything { wait_for_namespace }).await
            }
            AddonGeneration::Preview2019 => preview_install::remove(&client, &settings, wait_for_namespace).await,
        }
    }

    /// Webhook configuration first, then the processes.
    async fn stop_processes(&self, mut installed: Installed) -> Result<kube::Client, LifecycleError> {
        let client = self.inner.cluster.client();
        policy_webhook::registration::unregister(&client, &installed.webhook_configuration).await?;
        installed.agent.stop().await;
        installed.webhook.stop().await;
        let namespace = &installed.settings.namespace;
        workload_status::report_all(&client, installed.generation, namespace, [false, false]).await?;
        Ok(client)
    }

    /// Harness housekeeping between scenarios (not something AKS did): stops the add-on of
    /// `cluster_id` and removes its policies (the 2019 ConfigMaps; today's constraints, templates
    /// and their CRDs), but keeps its namespace and ServiceAccounts. Deleting a namespace always
    /// costs kube-controller-manager's fixed 5 s grace period, which the next scenario's install
    /// would otherwise wait out.
    pub async fn reset(&self, cluster_id: &str) -> Result<(), LifecycleError> {
        let installed = self.inner.installs.lock().await.remove(&cluster_id.to_ascii_lowercase());
        let Some(installed) = installed else { return Ok(()) };
        let (generation, settings) = (installed.generation, installed.settings.clone());
        let client = self.stop_processes(installed).await?;
        match generation {
            AddonGeneration::Current => current_removal::remove(&client, Removal::Policies).await,
            AddonGeneration::Preview2019 => preview_install::remove_policies(&client, &settings).await,
        }
    }

    /// Asks the agent to run a `cycle` now; returns its JSON reply.
    pub async fn trigger(&self, cluster_id: &str, cycle: Cycle) -> Result<serde_json::Value, LifecycleError> {
        let url = self.with_installed(cluster_id, |i| format!("{}{}", i.agent_url, cycle.trigger_path())).await?;
        let reply = http_client(None).post(url).send().await.map_err(|e| LifecycleError::Trigger(e.to_string()))?;
        let body: serde_json::Value = reply.json().await.map_err(|e| LifecycleError::Trigger(e.to_string()))?;
        if body["ok"] == true { Ok(body) } else { Err(LifecycleError::Trigger(body.to_string())) }
    }

    /// The add-on's log files (admission process, agent) for `cluster_id`.
    pub async fn log_paths(&self, cluster_id: &str) -> Result<(PathBuf, PathBuf), LifecycleError> {
        self.with_installed(cluster_id, |i| (i.webhook.log_path().to_path_buf(), i.agent.log_path().to_path_buf()))
            .await
    }
}

fn gatekeeper_configuration() -> &'static str {
    gatekeeper::webhook::registration::CONFIGURATION_NAME
}

/// The controller azure-sim calls.
#[async_trait::async_trait]
impl azure_sim::AddonController for AddonLifecycle {
    async fn install(&self, req: &AddonInstall) -> Result<(), AddonError> {
        Ok(AddonLifecycle::install(self, req).await?)
    }

    /// Done once nothing of the add-on acts any more (webhook configuration gone, processes
    /// stopped) and its namespace is being deleted; kube-controller-manager finishes that deletion
    /// after its fixed 5 s grace period, which `disable-addons` does not wait for.
    async fn uninstall(&self, cluster_id: &str) -> Result<(), AddonError> {
        Ok(AddonLifecycle::uninstall(self, cluster_id, false).await?)
    }

    async fn trigger_scan(&self, cluster_id: &str) -> Result<(), AddonError> {
        self.trigger(cluster_id, Cycle::Audit).await?;
        Ok(())
    }
}
