//! Kubernetes clusters for the harness, behind one type.
//!
//! - [`Backend::Local`] (the default) runs a real etcd, kube-apiserver and kube-controller-manager as
//!   child processes: no Docker, ~seconds to boot once the binaries are cached (see [`binaries`]).
//! - [`Backend::K3s`] runs k3s with testcontainers, for users with a Docker engine; without one it
//!   fails fast with [`ClusterError::Unavailable`], which callers turn into a skip.
//! - [`Backend::Kind`] creates a throwaway kind cluster with the `kind` command (see [`kind`]);
//!   without kind or Docker it is skipped the same way.
//! - [`Backend::Existing`] uses `KUBECONFIG`, like envtest's `USE_EXISTING_CLUSTER`.
//!
//! Each cluster also says where its API server reaches webhooks served by this process
//! ([`webhook_host`]): loopback, a Docker gateway, or the address given with `--webhook-host`.
//!
//! A test binary shares one cluster through [`shared`]; scenarios isolate themselves by namespace.

pub mod binaries;
pub mod docker;
pub mod k3s;
pub mod kind;
pub mod kubeconfig;
mod local;
pub mod reaper;
pub mod supervised;
pub mod webhook_host;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use binaries::ControlPlaneBinaries;
pub use local::LocalControlPlane;
pub use supervised::Supervised;
pub use webhook_host::WebhookHost;

/// Everything that can go wrong bringing a cluster up. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("control-plane binaries unavailable:\n{message}")]
    Binaries { message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start {name}: {source}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited during startup ({status}); log {}; last lines:\n{tail}", log.display())]
    ProcessExited { name: String, status: String, log: PathBuf, tail: String },
    #[error("timed out after {after:?} waiting for {what}; log {}; last lines:\n{tail}", log.display())]
    Timeout { what: String, after: Duration, log: PathBuf, tail: String },
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// The backend cannot run on this machine: a skip, not a failure (one line for users).
    #[error("{missing} not available: {backend} backend skipped ({reason})")]
    Unavailable { backend: Backend, missing: &'static str, reason: String },
    #[error("this harness was built without the k3s backend; {}", k3s::HOW_TO_BUILD)]
    K3sNotBuilt,
    #[error("kubernetes API: {0}")]
    Api(#[from] kube::Error),
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    pub(crate) fn docker_unavailable(backend: Backend, reason: String) -> Self {
        Self::Unavailable { backend, missing: "Docker", reason }
    }

    /// Whether this is a backend that cannot run here (callers skip) rather than a failure.
    pub fn is_skip(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// A startup failure caused by another process taking our port between probe and bind.
    pub(crate) fn is_port_race(&self) -> bool {
        match self {
            Self::ProcessExited { tail, .. } | Self::Timeout { tail, .. } => tail.contains("address already in use"),
            _ => false,
        }
    }
}

/// Which kind of cluster to run against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    #[default]
    Local,
    K3s,
    Kind,
    Existing,
}

impl Backend {
    /// The name `--cluster` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::K3s => "k3s",
            Self::Kind => "kind",
            Self::Existing => "existing",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Self::Local),
            "k3s" => Ok(Self::K3s),
            "kind" => Ok(Self::Kind),
            "existing" => Ok(Self::Existing),
            other => Err(format!("unknown cluster backend {other:?}: use local, k3s, kind or existing")),
        }
    }
}

/// Options for [`start`].
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    pub backend: Backend,
    /// Where the API server reaches webhooks served here (`--webhook-host`); `None`: the backend's
    /// default ([`WebhookHost::default_for`]).
    pub webhook_host: Option<WebhookHost>,
}

#[derive(Debug)]
enum Running {
    Local(LocalControlPlane),
    // Boxed: the container handle is large and this enum sits in every cluster handle.
    K3s(Box<k3s::K3sCluster>),
    Kind(kind::KindCluster),
    Existing,
}

/// Whether `backend` can run on this machine. `Err` is the one-line skip ([`ClusterError::is_skip`])
/// or, for k3s in a build without it, how to build it in.
pub async fn preflight(backend: Backend) -> Result<(), ClusterError> {
    match backend {
        Backend::K3s => {
            k3s::probe_docker().await.map_err(|reason| ClusterError::docker_unavailable(backend, reason))?;
            if k3s::BUILT_IN { Ok(()) } else { Err(ClusterError::K3sNotBuilt) }
        }
        Backend::Kind => kind::KindCluster::preflight().await.map(drop),
        Backend::Local | Backend::Existing => Ok(()),
    }
}

/// The server URL and CA (PEM) of a kubeconfig's current context.
async fn describe_kubeconfig(path: &Path) -> Result<(String, String), ClusterError> {
    let config = kubeconfig::config_from(path).await?;
    let ca = config.root_cert.as_ref().and_then(|certs| certs.first()).map(|der| der_to_pem(der)).unwrap_or_default();
    Ok((config.cluster_url.to_string().trim_end_matches('/').to_string(), ca))
}

/// A running (or borrowed) cluster.
#[derive(Debug)]
pub struct Cluster {
    backend: Backend,
    // A Config, not a Client: a Client is bound to the runtime that built it, and test binaries run
    // one runtime per test while sharing one cluster.
    config: kube::Config,
    kubeconfig: PathBuf,
    server_url: String,
    ca_pem: String,
    run_dir: PathBuf,
    boot_time: Duration,
    webhook: WebhookHost,
    /// `webhook.host` as text, for [`Cluster::webhook_host`].
    webhook_host_text: String,
    // Behind a mutex so that the process-exit hook can stop a `'static` shared cluster.
    running: Mutex<Option<Running>>,
    _scratch: Option<tempfile::TempDir>,
}

/// Boots a cluster with the chosen backend.
pub async fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
    let started = Instant::now();
    let mut kind_gateway = None;
    let (running, kubeconfig, server_url, ca_pem, run_dir, scratch) = match opts.backend {
        Backend::Local => {
            let bins = tokio::task::spawn_blocking(ControlPlaneBinaries::locate_or_build)
                .await
                .expect("binary lookup task")?;
            let boot = Instant::now();
            let cp = LocalControlPlane::start(&bins).await?;
            tracing::info!(seconds = boot.elapsed().as_secs_f64(), "local control plane ready");
            let (kc, url, ca, dir) =
                (cp.kubeconfig.clone(), cp.server_url.clone(), cp.ca_pem.clone(), cp.run_dir.path().to_path_buf());
            (Running::Local(cp), kc, url, ca, dir, None)
        }
        Backend::K3s => {
            let scratch = tempfile::Builder::new()
                .prefix("aks-policy-harness-k3s-")
                .tempdir()
                .map_err(|e| ClusterError::io("create the run directory", e))?;
            let k = k3s::K3sCluster::start(scratch.path()).await?;
            let (kc, url, ca) = (k.kubeconfig().to_path_buf(), k.server_url().to_string(), k.ca_pem().to_string());
            (Running::K3s(Box::new(k)), kc, url, ca, scratch.path().to_path_buf(), Some(scratch))
        }
        Backend::Kind => {
            let binary = kind::KindCluster::preflight().await?;
            let scratch = tempfile::Builder::new()
                .prefix("aks-policy-harness-kind-")
                .tempdir()
                .map_err(|e| ClusterError::io("create the run directory", e))?;
            // Dropped on any error below, which deletes the cluster.
            let k = kind::KindCluster::create(binary, scratch.path()).await?;
            if opts.webhook_host.is_none() {
                kind_gateway = Some(k.gateway().await?);
            }
            let kc = k.kubeconfig().to_path_buf();
            let (url, ca) = describe_kubeconfig(&kc).await?;
            (Running::Kind(k), kc, url, ca, scratch.path().to_path_buf(), Some(scratch))
        }
        Backend::Existing => {
            let path = std::env::var_os("KUBECONFIG").map(PathBuf::from).ok_or_else(|| {
                ClusterError::Kubeconfig("--cluster existing needs KUBECONFIG to point at a kubeconfig file".into())
            })?;
            let scratch = tempfile::Builder::new()
                .prefix("aks-policy-harness-")
                .tempdir()
                .map_err(|e| ClusterError::io("create the run directory", e))?;
            let (url, ca) = describe_kubeconfig(&path).await?;
            (Running::Existing, path, url, ca, scratch.path().to_path_buf(), Some(scratch))
        }
    };
    let config = kubeconfig::config_from(&kubeconfig).await?;
    let webhook = opts.webhook_host.unwrap_or_else(|| WebhookHost::default_for(opts.backend, kind_gateway));
    tracing::info!(backend = %opts.backend, webhook_host = %webhook, "cluster ready");
    Ok(Cluster {
        backend: opts.backend,
        config,
        kubeconfig,
        server_url,
        ca_pem,
        run_dir,
        boot_time: started.elapsed(),
        webhook_host_text: webhook.host_text(),
        webhook,
        running: Mutex::new(Some(running)),
        _scratch: scratch,
    })
}

fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let body: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", body.join("\n"))
}

static SHARED: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();
/// Clusters started by [`another`], stopped at exit with the shared one.
static OTHERS: Mutex<Vec<&'static Cluster>> = Mutex::new(Vec::new());
static AT_EXIT: std::sync::Once = std::sync::Once::new();

extern "C" fn stop_clusters_at_exit() {
    let others = OTHERS.lock().map(|o| o.clone()).unwrap_or_default();
    for cluster in SHARED.get().into_iter().chain(others) {
        cluster.stop_blocking();
    }
}

fn stop_at_exit() {
    // SAFETY: registering a plain extern "C" fn with atexit(3), once.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(stop_clusters_at_exit);
    });
}

/// The backend chosen with [`use_backend`], if any.
static CHOSEN: Mutex<Option<Backend>> = Mutex::new(None);
/// The webhook host chosen with [`use_webhook_host`], if any.
static CHOSEN_WEBHOOK_HOST: Mutex<Option<WebhookHost>> = Mutex::new(None);

/// Chooses where the API server of [`shared`] and [`another`] reaches webhooks
/// (`--webhook-host`). Call it before their first use.
pub fn use_webhook_host(host: Option<WebhookHost>) {
    *CHOSEN_WEBHOOK_HOST.lock().expect("webhook host choice lock") = host;
}

/// The webhook host chosen with [`use_webhook_host`], else `HARNESS_WEBHOOK_HOST` (for test
/// binaries run by cargo), else `None` (the backend's default).
fn chosen_webhook_host() -> Result<Option<WebhookHost>, ClusterError> {
    if let Some(host) = CHOSEN_WEBHOOK_HOST.lock().expect("webhook host choice lock").clone() {
        return Ok(Some(host));
    }
    match std::env::var(webhook_host::ENV) {
        Ok(v) if !v.trim().is_empty() => {
            v.parse().map(Some).map_err(|e: webhook_host::ParseError| ClusterError::Kubeconfig(e.to_string()))
        }
        _ => Ok(None),
    }
}

/// The options [`shared`] and [`another`] start clusters with.
fn chosen_options() -> Result<ClusterOptions, ClusterError> {
    Ok(ClusterOptions { backend: chosen_backend()?, webhook_host: chosen_webhook_host()? })
}

/// Chooses the backend of [`shared`] and [`another`] (`harness run --cluster`). Call it before their
/// first use; a shared cluster already running with another backend is an error.
pub fn use_backend(backend: Backend) -> Result<(), ClusterError> {
    if let Some(running) = SHARED.get()
        && running.backend != backend
    {
        return Err(ClusterError::Kubeconfig(format!(
            "the shared cluster already runs on the {:?} backend; cannot switch to {backend:?}",
            running.backend
        )));
    }
    *CHOSEN.lock().expect("backend choice lock") = Some(backend);
    Ok(())
}

/// The backend chosen with [`use_backend`], else the one named by `AKS_HARNESS_CLUSTER` (for test
/// binaries run by cargo), else local.
pub fn chosen_backend() -> Result<Backend, ClusterError> {
    if let Some(backend) = *CHOSEN.lock().expect("backend choice lock") {
        return Ok(backend);
    }
    std::env::var("AKS_HARNESS_CLUSTER")
        .ok()
        .map(|b| b.parse::<Backend>())
        .transpose()
        .map_err(ClusterError::Kubeconfig)
        .map(Option::unwrap_or_default)
}

/// The cluster shared by everything in this process, booted on first use with the chosen backend
/// (see [`use_backend`]). It is stopped when the process exits; if the process is
/// killed, `PR_SET_PDEATHSIG` takes the children down with it.
pub async fn shared() -> Result<&'static Cluster, ClusterError> {
    SHARED
        .get_or_try_init(|| async {
            let cluster = start(chosen_options()?).await?;
            stop_at_exit();
            Ok(cluster)
        })
        .await
}

/// One more cluster for this process, beside [`shared`], with the same backend and the same
/// lifetime: stopped when the process exits. For work that needs a cluster of its own, such as
/// scenarios running at once that each install the cluster-wide add-on.
pub async fn another() -> Result<&'static Cluster, ClusterError> {
    let cluster: &'static Cluster = Box::leak(Box::new(start(chosen_options()?).await?));
    OTHERS.lock().expect("cluster list lock").push(cluster);
    stop_at_exit();
    Ok(cluster)
}

impl Cluster {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A new admin client (`system:masters`) on the current tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config.clone()).expect("client from a validated config")
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The API server's CA certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Time from `start` to a ready API server (includes the binary lookup, not a first build).
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The API server audit log (JSON lines); only the local backend writes one.
    pub fn audit_log_path(&self) -> Option<PathBuf> {
        match self.running.lock().expect("cluster lock").as_ref() {
            Some(Running::Local(cp)) => Some(cp.audit_log.clone()),
            _ => None,
        }
    }

    /// Whether deleted namespaces really go away (kube-controller-manager runs, or a full cluster).
    pub fn finalizes_namespaces(&self) -> bool {
        match self.running.lock().expect("cluster lock").as_ref() {
            Some(Running::Local(cp)) => cp.has_controller_manager,
            _ => true,
        }
    }

    /// The host name or address the API server uses to reach webhooks served by this process
    /// (without brackets; see [`Self::webhook`] for URLs and certificate names).
    pub fn webhook_host(&self) -> &str {
        &self.webhook_host_text
    }

    /// Where the API server reaches webhooks served by this process, where they listen, and the
    /// names their certificates need.
    pub fn webhook(&self) -> &WebhookHost {
        &self.webhook
    }

    /// The address webhooks should bind to so the API server can reach them.
    pub fn webhook_bind_ip(&self) -> std::net::IpAddr {
        self.webhook.bind
    }

    /// PIDs of the processes this cluster runs (empty for k3s and existing clusters).
    pub fn process_ids(&self) -> Vec<u32> {
        match self.running.lock().expect("cluster lock").as_ref() {
            Some(Running::Local(cp)) => cp.processes().iter().map(Supervised::pid).collect(),
            _ => Vec::new(),
        }
    }

    /// Writes a kubeconfig that authenticates with a bearer token (ServiceAccount identities).
    pub async fn kubeconfig_for_token(&self, token: &str, path: &Path) -> Result<(), ClusterError> {
        let text =
            kubeconfig::render(&self.server_url, &self.ca_pem, "token-user", kubeconfig::Credentials::Token(token));
        kubeconfig::write(path, &text)
    }

    /// Stops the cluster and waits for its processes to exit.
    pub async fn stop(&self) {
        let running = self.running.lock().expect("cluster lock").take();
        match running {
            Some(Running::Local(mut cp)) => cp.stop().await,
            Some(Running::K3s(k)) => k.remove().await,
            Some(Running::Kind(mut k)) => k.delete().await,
            _ => {}
        }
    }

    fn stop_blocking(&self) {
        let Ok(mut guard) = self.running.lock() else { return };
        match guard.take() {
            Some(Running::Local(mut cp)) => cp.stop_blocking(),
            Some(Running::Kind(mut k)) => k.delete_blocking(),
            Some(Running::K3s(k)) => k.remove_blocking(),
            other => *guard = other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_print_their_flag_names() {
        for backend in [Backend::Local, Backend::K3s, Backend::Kind, Backend::Existing] {
            assert_eq!(backend.to_string().parse::<Backend>(), Ok(backend));
        }
        let err = "kinder".parse::<Backend>().unwrap_err();
        assert_eq!(err, r#"unknown cluster backend "kinder": use local, k3s, kind or existing"#);
    }

    #[test]
    fn a_docker_backend_without_docker_is_a_one_line_skip() {
        let err = ClusterError::docker_unavailable(Backend::K3s, "no Docker engine at /var/run/docker.sock".into());
        assert_eq!(
            err.to_string(),
            "Docker not available: k3s backend skipped (no Docker engine at /var/run/docker.sock)"
        );
        assert!(err.is_skip());
        let err = ClusterError::docker_unavailable(Backend::Kind, "no Docker engine at /x".into());
        assert_eq!(err.to_string(), "Docker not available: kind backend skipped (no Docker engine at /x)");
        assert!(!ClusterError::K3sNotBuilt.is_skip());
    }

    #[tokio::test]
    async fn a_written_kubeconfig_gives_back_its_server_and_ca() {
        pki::install_ring_provider();
        let ca = pki::Ca::new("describe test").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let text =
            kubeconfig::render("https://127.0.0.1:39999", &ca.cert_pem(), "u", kubeconfig::Credentials::Token("t"));
        kubeconfig::write(&path, &text).unwrap();
        let (url, ca_pem) = describe_kubeconfig(&path).await.unwrap();
        assert_eq!(url, "https://127.0.0.1:39999");
        assert_eq!(ca_pem.trim(), ca.cert_pem().trim());
        let missing = describe_kubeconfig(&dir.path().join("nope")).await.unwrap_err().to_string();
        assert!(missing.starts_with("kubeconfig: ") && missing.contains("nope"), "{missing}");
    }
}
