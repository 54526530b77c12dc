//! The shared application object every handler receives: state, settings, the add-on controller and
//! the fault table. Handlers are plain async functions over `Arc<App>`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::addon::AddonController;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::state::Store;

pub type SharedApp = Arc<App>;

pub struct App {
    pub store: Store,
    pub config: SimConfig,
    pub controller: Arc<dyn AddonController>,
    pub faults: Faults,
    /// The canonical base URL (`https://127.0.0.1:<port>`), known once the listener is bound.
    pub base: OnceLock<String>,
    pub ca_pem: Option<String>,
    /// Custom definitions loaded from `--definitions DIR` (tenant-wide, like the built-ins).
    pub dir_definitions: Vec<Value>,
    /// Their Rego files, by file name, served under `/policies/custom/`.
    pub custom_rego: BTreeMap<String, String>,
}

impl App {
    /// The simulator's own base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.get().map(String::as_str).unwrap_or("https://127.0.0.1")
    }

    /// The base URL as the caller reached us: ARM builds LRO URLs from the request's own host, so a
    /// client that came in through `localhost` polls `localhost`.
    pub fn request_base(&self, headers: &HeaderMap) -> String {
        let scheme = if self.config.tls { "https" } else { "http" };
        match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) if !host.is_empty() && !host.contains('/') => format!("{scheme}://{host}"),
            _ => self.base_url().to_string(),
        }
    }
}
