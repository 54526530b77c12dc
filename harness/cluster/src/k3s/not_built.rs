//! The k3s backend in a build without the cargo feature `k3s`: Docker is still probed, so a
//! machine without it skips as usual; with Docker, starting says how to build the backend in.

use std::path::Path;

use super::probe_docker;
use crate::{Backend, ClusterError};

/// No value exists: [`K3sCluster::start`] always fails in this build.
#[derive(Debug)]
pub enum K3sCluster {}

impl K3sCluster {
    pub async fn start(_run_dir: &Path) -> Result<Self, ClusterError> {
        probe_docker().await.map_err(|reason| ClusterError::docker_unavailable(Backend::K3s, reason))?;
        Err(ClusterError::K3sNotBuilt)
    }

    pub fn kubeconfig(&self) -> &Path {
        match *self {}
    }

    pub fn server_url(&self) -> &str {
        match *self {}
    }

    pub fn ca_pem(&self) -> &str {
        match *self {}
    }

    pub async fn remove(self) {
        match self {}
    }

    pub fn remove_blocking(self) {
        match self {}
    }
}
