//! k3s in Docker via testcontainers, for users who have a Docker engine.
//!
//! Without a Docker engine this backend is skipped with a clear reason rather than failing: the
//! engine is probed first (`GET /_ping` on the socket, 3 s timeout), which answers in milliseconds.
//!
//! The container part is the cargo feature `k3s` (off by default): testcontainers brings a Docker
//! client with gRPC and about 300 crates, a large share of a cold build that most runs never use.
//! A build without it still probes Docker, and then says how to build the backend in.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "k3s")]
mod container;
#[cfg(feature = "k3s")]
pub use container::K3sCluster;
#[cfg(not(feature = "k3s"))]
mod not_built;
#[cfg(not(feature = "k3s"))]
pub use not_built::K3sCluster;

/// Whether this build has the k3s backend (cargo feature `k3s`).
pub const BUILT_IN: bool = cfg!(feature = "k3s");
/// What to run to get a build with the k3s backend.
pub const HOW_TO_BUILD: &str =
    "rebuild with the k3s feature: cargo run -p harness --features k3s -- <command> --cluster k3s";

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
