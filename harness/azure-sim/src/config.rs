//! How a simulator is started. The same settings back the `harness azure serve` flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings for [`crate::AzureSim::start`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Listen address; port 0 picks a free port. Default `127.0.0.1:0`.
    pub addr: SocketAddr,
    /// Serve HTTPS with a generated CA (default). `false` serves plain HTTP, for local scripting
    /// (the real `az` refuses a non-HTTPS login endpoint, so it needs TLS).
    pub tls: bool,
    /// Persist the state here (atomically, after every change) and reload it at start.
    pub state_file: Option<PathBuf>,
    /// Where to write `ca.pem`. Default: next to the state file, else a fresh temp directory.
    pub ca_file: Option<PathBuf>,
    /// Registered preview features skip `Pending` and go straight to `Registered`.
    pub auto_approve_features: bool,
    /// A directory of custom policy definitions (`*.json`) and their Rego (`*.rego`).
    pub definitions_dir: Option<PathBuf>,
    /// How long a provider stays `Registering`/`Unregistering` (default: immediate).
    pub provider_delay: Duration,
    /// Largest accepted request body; ARM's own limit is 4 MiB.
    pub max_body_bytes: usize,
    /// The bearer token `/admin/...` requires ([`contracts::credential`]). `None`: open on a
    /// loopback-only listener, a generated token on any other (see [`crate::RunningSim::admin_token`]).
    pub admin_token: Option<String>,
    /// The add-on a new subscription's clusters get when `azurepolicy` is enabled (default: today's,
    /// GA, no preview feature needed). [`crate::RunningSim::set_addon_generation`] changes one
    /// subscription's.
    pub addon_generation: contracts::AddonGeneration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            state_file: None,
            ca_file: None,
            auto_approve_features: false,
            definitions_dir: None,
            provider_delay: Duration::ZERO,
            max_body_bytes: 4 * 1024 * 1024,
            admin_token: None,
            addon_generation: contracts::AddonGeneration::default(),
        }
    }
}
