//! k3s in Docker via testcontainers, for users who have a Docker engine.
//!
//! Without a Docker engine this backend is skipped with a clear reason rather than failing: the
//! engine is probed first ([`crate::docker::probe`]), which answers in milliseconds.
//!
//! The container part is the cargo feature `k3s` (off by default): testcontainers brings a Docker
//! client with gRPC and about 300 crates, a large share of a cold build that most runs never use.
//! A build without it still probes Docker, and then says how to build the backend in.

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

/// Probes the Docker engine (kept here for callers that ask the k3s backend). `Err` carries the
/// reason it is unusable.
pub async fn probe_docker() -> Result<(), String> {
    crate::docker::probe().await
}
