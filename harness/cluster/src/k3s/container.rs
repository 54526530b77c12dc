//! The k3s container (cargo feature `k3s`).

use std::path::{Path, PathBuf};

use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};
use testcontainers_modules::testcontainers::core::Host;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

use super::{HOST_FROM_CONTAINER, K3S_TAG, probe_docker};
use crate::reaper::Reaper;
use crate::{Backend, ClusterError};

/// A running k3s container and the kubeconfig written for it.
pub struct K3sCluster {
    container: ContainerAsync<K3s>,
    kubeconfig: PathBuf,
    server_url: String,
    ca_pem: String,
    /// Removes the container if this process ends without doing it (see [`crate::reaper`]); only
    /// with a `docker` CLI on PATH.
    reaper: Option<Reaper>,
}

impl std::fmt::Debug for K3sCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K3sCluster").field("server_url", &self.server_url).finish_non_exhaustive()
    }
}

impl K3sCluster {
    pub async fn start(run_dir: &Path) -> Result<Self, ClusterError> {
        probe_docker().await.map_err(|reason| ClusterError::docker_unavailable(Backend::K3s, reason))?;
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
            .map_err(|e| ClusterError::docker_unavailable(Backend::K3s, format!("k3s container did not start: {e}")))?;
        let id = container.id().to_string();
        let reaper = match crate::docker::remove_command(&id) {
            Some(command) => Some(Reaper::arm(&command, &run_dir.join("k3s-reaper.log"))?),
            None => {
                tracing::warn!("no docker CLI on PATH: a killed harness leaves k3s container {id} running");
                None
            }
        };
        let port = container
            .get_host_port_ipv4(KUBE_SECURE_PORT)
            .await
            .map_err(|e| ClusterError::docker_unavailable(Backend::K3s, format!("k3s port: {e}")))?;
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
        Ok(Self { container, kubeconfig, server_url, ca_pem, reaper })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Removes the container.
    pub async fn remove(mut self) {
        let reaper = self.reaper.take();
        if self.container.rm().await.is_ok()
            && let Some(reaper) = reaper
        {
            reaper.disarm();
        }
    }

    /// [`Self::remove`] for exit hooks, where no async runtime is left.
    pub fn remove_blocking(mut self) {
        let reaper = self.reaper.take();
        match crate::docker::remove_container_blocking(self.container.id()) {
            Ok(()) => {
                if let Some(reaper) = reaper {
                    reaper.disarm();
                }
                // Removed: its own drop would try again on a runtime that is gone.
                std::mem::forget(self.container);
            }
            Err(err) => tracing::warn!(%err, "k3s container not removed"),
        }
    }
}
