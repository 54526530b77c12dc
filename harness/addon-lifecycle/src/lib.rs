//! The add-on lifecycle: what AKS did when `az aks enable-addons --addons azure-policy` or
//! `disable-addons` ran. azure-sim calls it through its `AddonController` trait; the harness owns it
//! because only the harness knows the Kubernetes cluster.
//!
//! **Install** (idempotent; a half-finished earlier install is repaired):
//! 1. the `azure-policy` namespace, ServiceAccounts, least-privilege RBAC and Deployment objects;
//! 2. a serving certificate for the webhook from a fresh CA;
//! 3. `policy-webhook` and `policy-agent` processes with their own ServiceAccount tokens;
//! 4. the webhook configuration with the caBundle, proven in force by a dry-run probe.
//!
//! Its Deployments report the processes' liveness (`kubectl get deploy` shows `1/1`, or `0/1` after a
//! crash): see `workload_status`.
//!
//! **Uninstall**: the webhook configuration first (so nothing is denied after removal), then the
//! processes, then the namespace, waiting until it is gone.
//!
//! The add-on is cluster-wide, as on AKS: its webhook sees every namespace. So one managed cluster
//! at a time holds the real cluster's add-on; an install for another managed cluster replaces it
//! (with a warning), which is why scenarios run one at a time by default.

mod objects;
mod processes;
mod workload_status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::addon::{AddonError, AddonInstall};
use contracts::agent::Cycle;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};
use policy_webhook::{FailurePolicy, Registration};

pub use objects::{AGENT_ACCOUNT, WEBHOOK_ACCOUNT};
pub use processes::{AddonProcess, dispatch_addon_process};

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
            LifecycleError::Kube(_) | LifecycleError::Registration(_) | LifecycleError::NamespaceStuck(..) => {
                AddonError::Kubernetes(message)
            }
            LifecycleError::Pki(_) | LifecycleError::Io { .. } => AddonError::Setup(message),
            LifecycleError::NotInstalled(cluster_id) => AddonError::NotInstalled(cluster_id),
            LifecycleError::Trigger(why) => AddonError::TriggerFailed(why),
        }
    }
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> LifecycleError + '_ {
    move |e| LifecycleError::Io { context: context.to_string(), message: e.to_string() }
}

/// Settings of one install (the add-on chart's knobs).
#[derive(Clone, Debug)]
pub struct AddonSettings {
    pub namespace: String,
    pub refresh_interval: Duration,
    pub audit_interval: Duration,
    pub failure_policy: FailurePolicy,
    pub replicate: Vec<String>,
}

impl AddonSettings {
    /// The replicated kinds, parsed as the webhook parses its `--replicate` flags.
    pub fn replicate_specs(&self) -> Result<Vec<policy_webhook::replication::ResourceSpec>, LifecycleError> {
        self.replicate
            .iter()
            .map(|r| {
                r.parse().map_err(|e: policy_webhook::WebhookError| LifecycleError::Io {
                    context: format!("replicate entry {r:?}"),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

impl Default for AddonSettings {
    fn default() -> Self {
        Self {
            namespace: "azure-policy".into(),
            refresh_interval: Duration::from_secs(300),
            audit_interval: Duration::from_secs(300),
            failure_policy: FailurePolicy::Ignore,
            replicate: policy_webhook::replication::DEFAULT_REPLICATE.map(String::from).to_vec(),
        }
    }
}

/// A running add-on.
#[derive(Debug)]
pub struct Installed {
    pub settings: AddonSettings,
    pub webhook: cluster::Supervised,
    pub agent: cluster::Supervised,
    pub webhook_url: String,
    pub agent_url: String,
    pub registration: Registration,
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
    defaults: Mutex<AddonSettings>,
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
                defaults: Mutex::new(AddonSettings::default()),
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
    /// intervals).
    pub fn configure_defaults(&self, settings: AddonSettings) {
        *self.inner.defaults.lock().unwrap() = settings;
    }

    fn settings_for(&self, cluster_id: &str) -> AddonSettings {
        let own = self.inner.settings.lock().unwrap().get(&cluster_id.to_ascii_lowercase()).cloned();
        own.unwrap_or_else(|| self.inner.defaults.lock().unwrap().clone())
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

    /// Installs the add-on for `req.cluster_id`.
    pub async fn install(&self, req: &AddonInstall) -> Result<(), LifecycleError> {
        let key = req.cluster_id.to_ascii_lowercase();
        let mut installs = self.inner.installs.lock().await;
        if let Some(existing) = installs.get_mut(&key) {
            if existing.webhook.is_running() && existing.agent.is_running() {
                return Ok(());
            }
            // A crashed process: tear down what is left and install again.
            let stale = installs.remove(&key).expect("present");
            self.stop_installed(stale, false).await?;
        }
        if let Some(other) = installs.keys().next() {
            tracing::warn!(%other, "another managed cluster holds the add-on; it is replaced");
            let other = other.clone();
            let stale = installs.remove(&other).expect("present");
            self.stop_installed(stale, false).await?;
        }
        let settings = self.settings_for(&req.cluster_id);
        let started = Instant::now();
        let installed = self.start(req, settings).await?;
        tracing::info!(cluster = %req.cluster_id, seconds = started.elapsed().as_secs_f64(), "add-on installed");
        let (client, ns, dir) =
            (self.inner.cluster.client(), installed.settings.namespace.clone(), installed.dir.clone());
        workload_status::report_all(&client, &ns, [true, true]).await?;
        workload_status::watch(self.clone(), client, ns, key.clone(), dir);
        installs.insert(key, installed);
        Ok(())
    }

    async fn start(&self, req: &AddonInstall, settings: AddonSettings) -> Result<Installed, LifecycleError> {
        let cluster = self.inner.cluster;
        let client = cluster.client();
        let ns = settings.namespace.clone();
        wait_namespace_gone_if_terminating(&client, &ns).await?;
        objects::apply_all(&client, &ns, &settings.replicate_specs()?).await?;

        let n = self.inner.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.inner.run_dir.join(format!("addon-{n}"));
        std::fs::create_dir_all(&dir).map_err(io("create the add-on directory"))?;
        let write = |name: &str, text: &str| -> Result<PathBuf, LifecycleError> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io("write add-on file"))?;
            Ok(path)
        };

        // Identities: one kubeconfig per ServiceAccount, from the TokenRequest API.
        let mut kubeconfigs = HashMap::new();
        for account in [AGENT_ACCOUNT, WEBHOOK_ACCOUNT] {
            let token = objects::service_account_token(&client, &ns, account).await?;
            let path = dir.join(format!("{account}.kubeconfig"));
            cluster.kubeconfig_for_token(&token, &path).await?;
            kubeconfigs.insert(account, path);
        }

        // The webhook's serving certificate: an IP or DNS SAN for the host the API server calls
        // (per backend, or `--webhook-host`), and the addresses local callers use.
        let ca = pki::Ca::new("azure-policy webhook CA")?;
        let host = cluster.webhook();
        let (san_names, san_ips) = host.sans();
        let san_names: Vec<&str> = san_names.iter().map(String::as_str).collect();
        let serving = ca.issue_server(&san_names, &san_ips)?;
        let ca_file = write("webhook-ca.crt", &ca.cert_pem())?;
        let cert_file = write("webhook.crt", &serving.cert_pem)?;
        let key_file = write("webhook.key", &serving.key_pem)?;
        let webhook_http = http_client(Some(&ca.cert_pem()));

        // The webhook's read endpoints carry cluster objects; only the agent gets their token, through
        // the environment (not argv, which `ps` shows), on every backend.
        let read_token = pki::random_token();
        let mut webhook_cmd = processes::command_for(AddonProcess::Webhook)?;
        webhook_cmd
            .env("POLICY_WEBHOOK_READ_TOKEN", &read_token)
            .arg("serve")
            .arg(format!("--listen={}", host.listen_addr()))
            .arg("--tls-cert-file")
            .arg(&cert_file)
            .arg("--tls-key-file")
            .arg(&key_file)
            .arg("--addr-file")
            .arg(dir.join("webhook.addr"))
            .arg("--policy-namespace")
            .arg(&ns)
            .arg(format!("--replicate={}", settings.replicate.join(",")))
            .arg("--kubeconfig")
            .arg(&kubeconfigs[WEBHOOK_ACCOUNT])
            .env("RUST_LOG", "info");
        let (webhook, webhook_base) = processes::spawn_and_wait(
            "policy-webhook",
            webhook_cmd,
            &dir.join("policy-webhook.log"),
            &dir.join("webhook.addr"),
            "https",
            "/readyz",
            &webhook_http,
        )
        .await?;
        // The agent reaches the webhook on this machine's address for it (loopback, or the address
        // it is bound to), even when the API server uses another name.
        let port: u16 = webhook_base.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default();
        let webhook_local = format!("https://{}", std::net::SocketAddr::from((host.local_ip(), port)));

        let dataplane_ca = match &req.ca_pem {
            Some(pem) => Some(write("dataplane-ca.crt", pem)?),
            None => None,
        };
        let mut agent_cmd = processes::command_for(AddonProcess::Agent)?;
        agent_cmd
            .env("REFRESH_INTERVAL", format!("{}ms", settings.refresh_interval.as_millis()))
            .env("AUDIT_INTERVAL", format!("{}ms", settings.audit_interval.as_millis()))
            .env("DATAPLANE_ENDPOINT", &req.dataplane_endpoint)
            .env("RESOURCE_ID", &req.cluster_id)
            .env("AZURE_TENANT_ID", &req.tenant_id)
            .env("AZURE_CLIENT_ID", &req.client_id)
            .env("AZURE_CLIENT_SECRET", &req.client_secret)
            .env("POLICY_NAMESPACE", &ns)
            .env("WEBHOOK_URL", &webhook_local)
            .env("WEBHOOK_CA_FILE", &ca_file)
            .env("WEBHOOK_READ_TOKEN", &read_token)
            .env("KUBECONFIG", &kubeconfigs[AGENT_ACCOUNT])
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .arg("--addr-file")
            .arg(dir.join("agent.addr"));
        if let Some(path) = &dataplane_ca {
            agent_cmd.env("DATAPLANE_CA_FILE", path);
        }
        let (agent, agent_url) = processes::spawn_and_wait(
            "policy-agent",
            agent_cmd,
            &dir.join("policy-agent.log"),
            &dir.join("agent.addr"),
            "http",
            "/healthz",
            &http_client(None),
        )
        .await?;

        let mut registration = Registration::new(host.url(port, "/v1/admit"), ca.cert_pem());
        registration.failure_policy = settings.failure_policy;
        if let Err(err) =
            policy_webhook::registration::register_and_wait(&client, &registration, Duration::from_secs(30)).await
        {
            // Nothing may stay registered for a webhook that is not installed: every request would
            // wait out its timeout (Ignore) or be refused (Fail).
            let _ = policy_webhook::registration::unregister(&client, &registration.name).await;
            return Err(err.into());
        }
        Ok(Installed { settings, webhook, agent, webhook_url: webhook_local, agent_url, registration, dir })
    }

    /// Removes the add-on of `cluster_id`. `wait_for_namespace` waits until `azure-policy` is gone;
    /// without it the namespace is left terminating, and the next install waits for it.
    pub async fn uninstall(&self, cluster_id: &str, wait_for_namespace: bool) -> Result<(), LifecycleError> {
        let installed = self.inner.installs.lock().await.remove(&cluster_id.to_ascii_lowercase());
        match installed {
            Some(installed) => self.stop_installed(installed, wait_for_namespace).await,
            // Idempotent: a crash after the processes died may have left the objects behind.
            None => {
                let settings = self.settings_for(cluster_id);
                let client = self.inner.cluster.client();
                policy_webhook::registration::unregister(
                    &client,
                    policy_webhook::registration::DEFAULT_CONFIGURATION_NAME,
                )
                .await?;
                delete_namespace(&client, &settings.namespace, wait_for_namespace).await?;
                objects::delete_cluster_scoped(&client, &settings.namespace).await?;
                Ok(())
            }
        }
    }

    async fn stop_installed(&self, installed: Installed, wait_for_namespace: bool) -> Result<(), LifecycleError> {
        let ns = installed.settings.namespace.clone();
        let client = self.stop_processes(installed).await?;
        delete_namespace(&client, &ns, wait_for_namespace).await?;
        objects::delete_cluster_scoped(&client, &ns).await?;
        Ok(())
    }

    /// Webhook configuration first, then the processes.
    async fn stop_processes(&self, mut installed: Installed) -> Result<kube::Client, LifecycleError> {
        let client = self.inner.cluster.client();
        policy_webhook::registration::unregister(&client, &installed.registration.name).await?;
        installed.agent.stop().await;
        installed.webhook.stop().await;
        workload_status::report_all(&client, &installed.settings.namespace, [false, false]).await?;
        Ok(client)
    }

    /// Harness housekeeping between scenarios (not something AKS did): stops the add-on of
    /// `cluster_id` and empties its namespace of policies, but keeps the namespace and its
    /// ServiceAccounts. Deleting a namespace always costs kube-controller-manager's fixed 5 s grace
    /// period, which the next scenario's install would otherwise wait out.
    pub async fn reset(&self, cluster_id: &str) -> Result<(), LifecycleError> {
        let installed = self.inner.installs.lock().await.remove(&cluster_id.to_ascii_lowercase());
        let Some(installed) = installed else { return Ok(()) };
        let ns = installed.settings.namespace.clone();
        let client = self.stop_processes(installed).await?;
        let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, &ns);
        for cm in configmaps.list(&Default::default()).await?.items {
            let name = cm.metadata.name.unwrap_or_default();
            if contracts::policy_configmaps::is_policy(&name) {
                objects::ignore_missing(configmaps.delete(&name, &DeleteParams::default()).await)?;
            }
        }
        Ok(())
    }

    /// Asks the agent to run a `cycle` now; returns its JSON reply.
    pub async fn trigger(&self, cluster_id: &str, cycle: Cycle) -> Result<serde_json::Value, LifecycleError> {
        let url = self.with_installed(cluster_id, |i| format!("{}{}", i.agent_url, cycle.trigger_path())).await?;
        let reply = http_client(None).post(url).send().await.map_err(|e| LifecycleError::Trigger(e.to_string()))?;
        let body: serde_json::Value = reply.json().await.map_err(|e| LifecycleError::Trigger(e.to_string()))?;
        if body["ok"] == true { Ok(body) } else { Err(LifecycleError::Trigger(body.to_string())) }
    }

    /// The add-on's log files (webhook, agent) for `cluster_id`.
    pub async fn log_paths(&self, cluster_id: &str) -> Result<(PathBuf, PathBuf), LifecycleError> {
        self.with_installed(cluster_id, |i| (i.webhook.log_path().to_path_buf(), i.agent.log_path().to_path_buf()))
            .await
    }
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

async fn wait_namespace_gone_if_terminating(client: &kube::Client, ns: &str) -> Result<(), LifecycleError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let terminating =
        api.get_opt(ns).await?.and_then(|n| n.status).and_then(|s| s.phase).is_some_and(|phase| phase == "Terminating");
    if terminating { wait_gone(&api, ns).await } else { Ok(()) }
}

async fn delete_namespace(client: &kube::Client, ns: &str, wait: bool) -> Result<(), LifecycleError> {
    let api: Api<Namespace> = Api::all(client.clone());
    objects::ignore_missing(api.delete(ns, &DeleteParams::default()).await)?;
    if wait { wait_gone(&api, ns).await } else { Ok(()) }
}

/// Namespace deletion waits out kube-controller-manager's fixed 5 s grace period, then empties it.
async fn wait_gone(api: &Api<Namespace>, ns: &str) -> Result<(), LifecycleError> {
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    while api.get_opt(ns).await?.is_some() {
        if started.elapsed() > limit {
            return Err(LifecycleError::NamespaceStuck(ns.to_string(), limit));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
