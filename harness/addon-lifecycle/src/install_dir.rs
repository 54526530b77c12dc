//! What an install of either generation writes for its processes, all in one directory of its own:
//! a kubeconfig per ServiceAccount, the webhook's serving certificate and CA, the processes'
//! addresses and logs.

use std::path::{Path, PathBuf};

use super::{LifecycleError, io, objects};

/// The directory of one install.
#[derive(Debug)]
pub struct InstallDir(PathBuf);

impl InstallDir {
    pub fn create(path: PathBuf) -> Result<Self, LifecycleError> {
        std::fs::create_dir_all(&path).map_err(io("create the add-on directory"))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Where file `name` of the install goes.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes file `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, LifecycleError> {
        let path = self.file(name);
        std::fs::write(&path, text).map_err(io("write add-on file"))?;
        Ok(path)
    }

    /// A kubeconfig acting as ServiceAccount `account` of `ns`, with a token from the TokenRequest
    /// API: each process gets its own identity and only its own RBAC.
    pub async fn kubeconfig_for(
        &self,
        cluster: &cluster::Cluster,
        ns: &str,
        account: &str,
    ) -> Result<PathBuf, LifecycleError> {
        let token = objects::service_account_token(&cluster.client(), ns, account).await?;
        let path = self.file(&format!("{account}.kubeconfig"));
        cluster.kubeconfig_for_token(&token, &path).await?;
        Ok(path)
    }

    /// The admission webhook's serving certificate, from a fresh CA: an IP or DNS SAN for the host
    /// the API server calls (per backend, or `--webhook-host`), and the addresses local callers use.
    pub fn issue_serving_certificate(&self, cluster: &cluster::Cluster) -> Result<Serving, LifecycleError> {
        let ca = pki::Ca::new("azure-policy webhook CA")?;
        let (san_names, san_ips) = cluster.webhook().sans();
        let san_names: Vec<&str> = san_names.iter().map(String::as_str).collect();
        let serving = ca.issue_server(&san_names, &san_ips)?;
        Ok(Serving {
            ca_file: self.write("webhook-ca.crt", &ca.cert_pem())?,
            cert_file: self.write("webhook.crt", &serving.cert_pem)?,
            key_file: self.write("webhook.key", &serving.key_pem)?,
            ca_pem: ca.cert_pem(),
        })
    }
}

/// The webhook's certificate files and the CA that signed it (the configuration's `caBundle`).
#[derive(Debug)]
pub struct Serving {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// The webhook's port, from the base URL it reported, and the URL this machine calls it on
/// (loopback, or the address it is bound to), even when the API server uses another name.
pub fn local_webhook_url(host: &cluster::WebhookHost, reported_base: &str) -> (u16, String) {
    let port: u16 = reported_base.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default();
    (port, format!("https://{}", std::net::SocketAddr::from((host.local_ip(), port))))
}
