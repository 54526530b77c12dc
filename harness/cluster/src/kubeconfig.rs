//! Writing kubeconfig files and turning them into kube clients.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::ClusterError;

/// How a kubeconfig user authenticates.
pub enum Credentials<'a> {
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    Token(&'a str),
}

/// Renders a single-context kubeconfig with everything embedded (no side files to lose).
pub fn render(server: &str, ca_pem: &str, user: &str, creds: Credentials<'_>) -> String {
    let auth = match creds {
        Credentials::ClientCert { cert_pem, key_pem } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            STANDARD.encode(cert_pem),
            STANDARD.encode(key_pem)
        ),
        Credentials::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n{auth}contexts:\n- name: {user}@local\n  context:\n    cluster: local\n    user: {user}\ncurrent-context: {user}@local\n",
        ca = STANDARD.encode(ca_pem),
    )
}

/// Writes a kubeconfig with owner-only permissions (it holds a credential).
pub fn write(path: &Path, contents: &str) -> Result<(), ClusterError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ClusterError::io(format!("write kubeconfig {}", path.display()), e))?;
    file.write_all(contents.as_bytes()).map_err(|e| ClusterError::io(format!("write kubeconfig {}", path.display()), e))
}

/// A kube client config from a kubeconfig file.
pub async fn config_from(path: &Path) -> Result<kube::Config, ClusterError> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| ClusterError::Kubeconfig(format!("{}: {e}", path.display())))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| ClusterError::Kubeconfig(format!("{}: {e}", path.display())))
}

/// A kube client from a kubeconfig file.
pub async fn client_from(path: &Path) -> Result<kube::Client, ClusterError> {
    kube::Client::try_from(config_from(path).await?).map_err(|e| ClusterError::Kubeconfig(e.to_string()))
}
