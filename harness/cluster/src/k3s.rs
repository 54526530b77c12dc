//! k3s in Docker via testcontainers, for users who have a Docker engine.
//!
//! Without a Docker engine this backend is skipped with a clear reason rather than failing: the
//! engine is probed first (`GET /_ping` on the socket, 3 s timeout), which answers in milliseconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};
use testcontainers_modules::testcontainers::core::Host;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

use crate::ClusterError;

/// The k3s image tag (the module's default is 1.28; we track the apiserver minor we build locally).
pub const K3S_TAG: &str = "v1.36.3-k3s1";
/// The name under which the container reaches the host (webhooks served by the harness).
pub const HOST_FROM_CONTAINER: &str = "host.docker.internal";

/// The Docker socket path from `DOCKER_HOST` (unix only) or the default.
fn docker_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// Probes the Docker engine. `Err` carries the reason it is unusable.
pub async fn probe_docker() -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = docker_socket();
    let attempt = async {
        let mut stream = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(|e| format!("no Docker engine at {}: {e}", socket.display()))?;
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await
            .map_err(|e| format!("Docker engine did not accept a request: {e}"))?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.map_err(|e| format!("Docker engine did not answer: {e}"))?;
        if reply.ends_with("OK") { Ok(()) } else { Err("Docker engine answered /_ping without OK".to_string()) }
    };
    tokio::time::timeout(Duration::from_secs(3), attempt)
        .await
        .unwrap_or_else(|_| Err("Docker engine did not answer /_ping within 3 s".to_string()))
}

/// A running k3s container and the kubeconfig written for it.
pub struct K3sCluster {
    pub(crate) container: ContainerAsync<K3s>,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) server_url: String,
    pub(crate) ca_pem: String,
}

impl std::fmt::Debug for K3sCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K3sCluster").field("server_url", &self.server_url).finish_non_exhaustive()
    }
}

impl K3sCluster {
    pub async fn start(run_dir: &Path) -> Result<Self, ClusterError> {
        probe_docker().await.map_err(ClusterError::DockerUnavailable)?;
        let conf_dir = run_dir.join("k3s-conf");
        std::fs::create_dir_all(&conf_dir).map_err(|e| ClusterError::io("create k3s conf dir", e))?;
        let container = K3s::default()
            .with_conf_mount(&conf_dir)
            .with_privileged(true)
            .with_userns_mode("host")
            .with_tag(K3S_TAG)
            .with_host(HOST_FROM_CONTAINER, Host::HostGateway)
            .start()
            .await
            .map_err(|e| ClusterError::DockerUnavailable(format!("k3s container did not start: {e}")))?;
        let port = container
            .get_host_port_ipv4(KUBE_SECURE_PORT)
            .await
            .map_err(|e| ClusterError::DockerUnavailable(format!("k3s port: {e}")))?;
        let raw = container
            .image()
            .read_kube_config()
            .map_err(|e| ClusterError::Kubeconfig(format!("k3s kubeconfig: {e}")))?;
        let server_url = format!("https://127.0.0.1:{port}");
        let mut doc: serde_yaml::Value =
            serde_yaml::from_str(&raw).map_err(|e| ClusterError::Kubeconfig(format!("k3s kubeconfig: {e}")))?;
        let mut ca_pem = String::new();
        if let Some(clusters) = doc.get_mut("clusters").and_then(|c| c.as_sequence_mut()) {
            for entry in clusters {
                if let Some(cluster) = entry.get_mut("cluster") {
                    cluster["server"] = serde_yaml::Value::String(server_url.clone());
                    if let Some(data) = cluster.get("certificate-authority-data").and_then(|d| d.as_str()) {
                        use base64::Engine as _;
                        ca_pem = base64::engine::general_purpose::STANDARD
                            .decode(data)
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                            .unwrap_or_default();
                    }
                }
            }
        }
        let kubeconfig = run_dir.join("kubeconfig");
        let text = serde_yaml::to_string(&doc).map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
        crate::kubeconfig::write(&kubeconfig, &text)?;
        Ok(Self { container, kubeconfig, server_url, ca_pem })
    }
}
