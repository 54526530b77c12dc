//! The local control plane: etcd, kube-apiserver and kube-controller-manager as child processes,
//! envtest-style, with a generated PKI, RBAC on, and the API server's audit log written as JSON lines.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::ClusterError;
use crate::binaries::ControlPlaneBinaries;
use crate::kubeconfig::{self, Credentials};
use crate::supervised::Supervised;

/// How long each component may take to become ready (a contended 2-core CI needs headroom).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Free-port races are retried this many times.
const START_ATTEMPTS: usize = 3;

/// Audit policy: skip reads and lease noise; record metadata and response status of every write,
/// which is where "admission webhook … denied the request" lands.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [\"RequestReceived\"]
rules:
- level: None
  resources: [{group: \"coordination.k8s.io\", resources: [\"leases\"]}]
- level: None
  verbs: [\"get\", \"list\", \"watch\"]
- level: Metadata
  verbs: [\"create\", \"update\", \"patch\", \"delete\", \"deletecollection\"]
";

/// A running local control plane. Dropping it stops the processes (apiserver first) and removes
/// the run directory.
#[derive(Debug)]
pub struct LocalControlPlane {
    pub(crate) server_url: String,
    pub(crate) ca_pem: String,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) audit_log: PathBuf,
    // Stop order matters: controller-manager, apiserver, then etcd (the Vec is drained front to back).
    processes: Vec<Supervised>,
    pub(crate) has_controller_manager: bool,
    pub(crate) run_dir: tempfile::TempDir,
}

fn free_port() -> Result<u16, ClusterError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ClusterError::io("find a free loopback port", e))
}

fn write_file(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, ClusterError> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|e| ClusterError::io(format!("write {}", path.display()), e))?;
    Ok(path)
}

/// Polls `probe` until it returns true, failing early if `process` died.
async fn wait_ready<F, Fut>(process: &mut Supervised, what: &str, mut probe: F) -> Result<(), ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = process.exit_status() {
            return Err(ClusterError::ProcessExited {
                name: process.name().to_string(),
                status: status.to_string(),
                log: process.log_path().to_path_buf(),
                tail: process.tail(25),
            });
        }
        if probe().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ClusterError::Timeout {
                what: what.to_string(),
                after: START_TIMEOUT,
                log: process.log_path().to_path_buf(),
                tail: process.tail(25),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl LocalControlPlane {
    /// Boots the control plane, retrying on port races.
    pub async fn start(binaries: &ControlPlaneBinaries) -> Result<Self, ClusterError> {
        let mut last = None;
        for attempt in 1..=START_ATTEMPTS {
            match Self::start_once(binaries).await {
                Ok(cp) => return Ok(cp),
                Err(err) if attempt < START_ATTEMPTS && err.is_port_race() => {
                    tracing::warn!(attempt, "control plane start hit a port clash, retrying");
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn start_once(binaries: &ControlPlaneBinaries) -> Result<Self, ClusterError> {
        let run_dir = tempfile::Builder::new()
            .prefix("aks-policy-harness-")
            .tempdir()
            .map_err(|e| ClusterError::io("create the run directory", e))?;
        let dir = run_dir.path().to_path_buf();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);

        // PKI: one CA for serving, one for clients (as kubeadm does), and a service-account key.
        let serving_ca = pki::Ca::new("aks-policy-harness apiserver CA")?;
        let client_ca = pki::Ca::new("aks-policy-harness client CA")?;
        let serving = serving_ca.issue_server(&["localhost", "kubernetes", "kubernetes.default"], &[loopback])?;
        let admin = client_ca.issue_client("harness-admin", &["system:masters"])?;
        let ca_pem = serving_ca.cert_pem();
        let (sa_private, sa_public) = pki::generate_key_pair_pem()?;
        let sa_key = write_file(&dir, "sa.key", &sa_private)?;
        let sa_pub = write_file(&dir, "sa.pub", &sa_public)?;
        let tls_cert = write_file(&dir, "apiserver.crt", &serving.cert_pem)?;
        let tls_key = write_file(&dir, "apiserver.key", &serving.key_pem)?;
        let client_ca_file = write_file(&dir, "client-ca.crt", &client_ca.cert_pem())?;
        let audit_policy = write_file(&dir, "audit-policy.yaml", AUDIT_POLICY)?;
        let audit_log = dir.join("audit.log");

        let mut processes = Vec::new();

        // etcd
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd_cmd = Command::new(&binaries.etcd);
        etcd_cmd.args([
            "--name=default".to_string(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync".to_string(),
            "--log-level=warn".to_string(),
        ]);
        let mut etcd = Supervised::spawn("etcd", etcd_cmd, &dir.join("etcd.log"))?;
        let health = format!("{etcd_url}/health");
        wait_ready(&mut etcd, "etcd /health", || etcd_healthy(&health)).await?;

        // kube-apiserver
        let port = free_port()?;
        let server_url = format!("https://127.0.0.1:{port}");
        let mut api_cmd = Command::new(&binaries.kube_apiserver);
        api_cmd
            .args([
                format!("--etcd-servers={etcd_url}"),
                format!("--secure-port={port}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--cert-dir={}", dir.join("certs").display()),
                format!("--tls-cert-file={}", tls_cert.display()),
                format!("--tls-private-key-file={}", tls_key.display()),
                format!("--client-ca-file={}", client_ca_file.display()),
                "--authorization-mode=RBAC".into(),
                format!("--service-account-issuer=https://127.0.0.1:{port}"),
                format!("--service-account-key-file={}", sa_pub.display()),
                format!("--service-account-signing-key-file={}", sa_key.display()),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--allow-privileged=true".into(),
                // No service-account token controller runs, so pods must not require the default SA.
                "--disable-admission-plugins=ServiceAccount".into(),
                "--endpoint-reconciler-type=none".into(),
                "--profiling=false".into(),
                format!("--audit-policy-file={}", audit_policy.display()),
                format!("--audit-log-path={}", audit_log.display()),
                "--audit-log-format=json".into(),
                "--audit-log-mode=blocking".into(),
            ])
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        let mut apiserver = Supervised::spawn("kube-apiserver", api_cmd, &dir.join("kube-apiserver.log"))?;

        let kubeconfig = dir.join("kubeconfig");
        let admin_creds = Credentials::ClientCert { cert_pem: &admin.cert_pem, key_pem: &admin.key_pem };
        kubeconfig::write(&kubeconfig, &kubeconfig::render(&server_url, &ca_pem, "harness-admin", admin_creds))?;
        let client = kubeconfig::client_from(&kubeconfig).await?;
        processes.push(etcd);
        wait_ready(&mut apiserver, "kube-apiserver /readyz", || readyz(&client)).await?;
        wait_ready(&mut apiserver, "namespace default", || default_namespace(&client)).await?;

        // kube-controller-manager: only the controllers the harness needs (namespace deletion, GC).
        let mut has_controller_manager = false;
        let mut kcm = None;
        if let Some(kcm_bin) = &binaries.kube_controller_manager {
            let mut kcm_cmd = Command::new(kcm_bin);
            kcm_cmd.args([
                format!("--kubeconfig={}", kubeconfig.display()),
                "--controllers=namespace-controller,garbage-collector-controller".into(),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
                "--concurrent-namespace-syncs=2".into(),
            ]);
            let mut process =
                Supervised::spawn("kube-controller-manager", kcm_cmd, &dir.join("kube-controller-manager.log"))?;
            // It has no health endpoint with --secure-port=0; a short survival check catches bad flags.
            let settle = Instant::now() + Duration::from_millis(300);
            wait_ready(&mut process, "kube-controller-manager start", || async move { Instant::now() > settle })
                .await?;
            has_controller_manager = true;
            kcm = Some(process);
        } else {
            tracing::warn!("kube-controller-manager not available: deleted namespaces will stay Terminating");
        }
        // Stop order: controller-manager, apiserver, etcd.
        let mut ordered = Vec::new();
        ordered.extend(kcm);
        ordered.push(apiserver);
        ordered.extend(processes);

        Ok(Self { server_url, ca_pem, kubeconfig, audit_log, processes: ordered, has_controller_manager, run_dir })
    }

    /// The supervised processes, for diagnostics.
    pub fn processes(&self) -> &[Supervised] {
        &self.processes
    }

    /// Stops every process in order, waiting for each to exit.
    pub async fn stop(&mut self) {
        for p in &mut self.processes {
            p.stop().await;
        }
    }

    /// Synchronous stop for exit hooks.
    pub fn stop_blocking(&mut self) {
        for p in &mut self.processes {
            p.stop_blocking();
        }
    }
}

impl Drop for LocalControlPlane {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

async fn etcd_healthy(url: &str) -> bool {
    // etcd speaks plain HTTP on loopback; a raw request avoids building a TLS client for it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else { return false };
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_string(&mut body)).await;
    body.contains("\"health\":\"true\"")
}

async fn readyz(client: &kube::Client) -> bool {
    let req = http::Request::get("/readyz").body(Vec::new()).expect("static request");
    matches!(client.request_text(req).await, Ok(body) if body.trim() == "ok")
}

async fn default_namespace(client: &kube::Client) -> bool {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    api.get_opt("default").await.ok().flatten().is_some()
}
