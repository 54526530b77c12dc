//! The crate's typed errors.

use std::net::SocketAddr;

/// Starting or running the webhook failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "invalid --replicate value `{0}`: want [group/]version/resource, e.g. v1/pods or networking.k8s.io/v1/ingresses"
    )]
    ResourceSpec(String),
    #[error("resource {0} is not served by the API server")]
    UnknownResource(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
    #[error("writing {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
