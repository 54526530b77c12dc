//! Starting and stopping the simulator: state (fresh or from the state file), TLS material, the
//! listener, and the router that puts our own endpoints before the ARM fallback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Uri;
use axum::routing::{delete, get, post};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use contracts::AddonGeneration;

use crate::addon::AddonController;
use crate::app::{App, SharedApp};
use crate::config::SimConfig;
use crate::error::{ArmError, SimError};
use crate::faults::Faults;
use crate::state::{SimState, Store, TlsMaterial};
use crate::subscriptions::SubscriptionCredentials;
use crate::{admin, arm, auth, dataplane, definitions, faults, features, subscriptions, template_store};

/// Every route: our own first, ARM as the fallback, faults in front of all but `/admin`; repeated
/// slashes in the path are collapsed before any of them sees it.
fn router(app: SharedApp) -> Router {
    let routes = Router::new()
        .route("/adfs/oauth2/token", post(auth::token))
        .route("/adfs/.well-known/openid-configuration", get(auth::openid_configuration))
        .route("/adfs/{tenant}/v2.0/.well-known/openid-configuration", get(auth::tenant_openid_configuration))
        .route("/metadata/endpoints", get(auth::metadata_endpoints))
        .route("/policies/kubernetes/{file}", get(dataplane::builtin_rego))
        .route("/policies/custom/{file}", get(dataplane::custom_rego))
        .route("/kubernetes/{slug}/{version}/template.yaml", get(template_store::template))
        .route("/dataplane/v1/assignments", get(dataplane::assignments))
        .route("/dataplane/v1/reports", post(dataplane::reports))
        .merge(admin_routes(app.clone()))
        .fallback(arm::handle)
        .layer(axum::middleware::from_fn_with_state(app.clone(), faults::layer))
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
        .with_state(app);
    // A layer on a router runs after its routing, so the rewrite wraps a router whose only route is
    // the fallback to the real one.
    Router::new().fallback_service(routes).layer(axum::middleware::map_request(collapse_slashes))
}

/// The admin API, behind its credential when the server has one.
fn admin_routes(app: SharedApp) -> Router<SharedApp> {
    Router::new()
        .route("/admin/faults", get(faults::admin_list).post(faults::admin_add).delete(faults::admin_clear))
        .route("/admin/faults/{id}", delete(faults::admin_remove))
        .route("/admin/features/approve", post(admin::approve_feature))
        .route("/admin/subscriptions", post(admin::new_subscription))
        .route("/admin/reports", get(dataplane::admin_reports))
        .route_layer(axum::middleware::from_fn_with_state(app, admin::require_credential))
}

/// `az cloud register --endpoint-resource-manager https://127.0.0.1:<port>/` (the trailing slash as
/// the docs write it) appends `/metadata/endpoints` to the URL as given and asks for
/// `//metadata/endpoints`. ARM paths already ignore empty segments; this gives our own routes
/// (`/metadata`, `/adfs`, `/admin`…) the same tolerance.
async fn collapse_slashes(mut request: Request) -> Request {
    let uri = request.uri();
    if !uri.path().contains("//") {
        return request;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    if let Some(query) = uri.query() {
        path = format!("{path}?{query}");
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path) = path.parse() {
        parts.path_and_query = Some(path);
        if let Ok(collapsed) = Uri::from_parts(parts) {
            *request.uri_mut() = collapsed;
        }
    }
    request
}

/// Generates (once; then kept in the state) a CA and a serving certificate for loopback and `ip`.
fn ensure_tls(state: &mut SimState, ip: IpAddr) -> Result<TlsMaterial, SimError> {
    if let Some(tls) = &state.tls {
        return Ok(tls.clone());
    }
    let ca = pki::Ca::new("azure-sim CA")?;
    let mut ips: Vec<IpAddr> = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    if !ip.is_unspecified() && !ips.contains(&ip) {
        ips.push(ip);
    }
    let leaf = ca.issue_server(&["localhost"], &ips)?;
    let tls = TlsMaterial { ca_pem: ca.cert_pem(), cert_pem: leaf.cert_pem, key_pem: leaf.key_pem };
    state.tls = Some(tls.clone());
    Ok(tls)
}

/// Where `ca.pem` goes: as configured, else beside the state file, else a fresh temp directory.
fn ca_file(config: &SimConfig) -> PathBuf {
    if let Some(path) = &config.ca_file {
        return path.clone();
    }
    if let Some(state) = &config.state_file {
        let mut name = state.as_os_str().to_owned();
        name.push(".ca.pem");
        return PathBuf::from(name);
    }
    std::env::temp_dir().join(format!("azure-sim-{}", uuid::Uuid::new_v4().simple())).join("ca.pem")
}

fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(SimError::io(dir))?;
    }
    std::fs::write(path, text).map_err(SimError::io(path))
}

/// Entry point of the crate.
pub struct AzureSim;

impl AzureSim {
    /// Starts a simulator and returns once it accepts connections.
    pub async fn start(config: SimConfig, controller: Arc<dyn AddonController>) -> Result<RunningSim, SimError> {
        let loaded = match &config.state_file {
            Some(path) => Store::load(path)?,
            None => None,
        };
        let mut state = loaded.unwrap_or_else(|| subscriptions::initial_state(config.addon_generation));
        let listener = std::net::TcpListener::bind(config.addr)
            .map_err(|source| SimError::Bind { addr: config.addr.to_string(), source })?;
        let local = listener.local_addr().map_err(|source| SimError::Bind { addr: config.addr.to_string(), source })?;
        let tls = if config.tls { Some(ensure_tls(&mut state, local.ip())?) } else { None };
        let (dir_definitions, custom_rego) = match &config.definitions_dir {
            Some(dir) => definitions::load_dir(dir)?,
            None => Default::default(),
        };
        let ca_path = match &tls {
            Some(t) => {
                let path = ca_file(&config);
                write_file(&path, &t.ca_pem)?;
                // Absolute, so a script can use the printed `ca:` path from any directory.
                Some(std::fs::canonicalize(&path).map_err(SimError::io(&path))?)
            }
            None => None,
        };
        let host = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
            IpAddr::V6(ip) if ip.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        let scheme = if config.tls { "https" } else { "http" };
        let store = Store::new(state, config.state_file.clone());
        store.flush()?;
        let admin_token = config
            .admin_token
            .clone()
            .or_else(|| contracts::credential::required_for(local.ip()).then(pki::random_token));
        let app = Arc::new(App {
            store,
            config,
            admin_token,
            controller,
            faults: Faults::default(),
            base: OnceLock::new(),
            ca_pem: tls.as_ref().map(|t| t.ca_pem.clone()),
            dir_definitions,
            custom_rego,
        });
        let _ = app.base.set(format!("{scheme}://{host}:{}", local.port()));
        let handle: Handle<SocketAddr> = Handle::new();
        let service = router(app.clone()).into_make_service();
        let bind_err = |source| SimError::Bind { addr: local.to_string(), source };
        let task = match tls {
            Some(t) => {
                let rustls =
                    RustlsConfig::from_pem(t.cert_pem.into_bytes(), t.key_pem.into_bytes()).await.map_err(bind_err)?;
                let server = axum_server::from_tcp_rustls(listener, rustls).map_err(bind_err)?.handle(handle.clone());
                tokio::spawn(async move { server.serve(service).await })
            }
            None => {
                let server = axum_server::from_tcp(listener).map_err(bind_err)?.handle(handle.clone());
                tokio::spawn(async move { server.serve(service).await })
            }
        };
        handle.listening().await;
        Ok(RunningSim { app, handle, task: Some(task), ca_path, addr: local })
    }
}

/// A started simulator. Dropping it stops the server; [`RunningSim::shutdown`] stops it gracefully.
pub struct RunningSim {
    app: SharedApp,
    handle: Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    ca_path: Option<PathBuf>,
    addr: SocketAddr,
}

impl RunningSim {
    /// The ARM endpoint, e.g. `https://127.0.0.1:40123` (no trailing slash).
    pub fn arm_url(&self) -> &str {
        self.app.base_url()
    }

    /// The token `/admin/...` requires (`Authorization: Bearer <token>`), if any: the configured one,
    /// or one generated because the listener is reachable beyond loopback.
    pub fn admin_token(&self) -> Option<&str> {
        self.app.admin_token.as_deref()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate clients must trust (`None` with plain HTTP).
    pub fn ca_pem(&self) -> Option<&str> {
        self.app.ca_pem.as_deref()
    }

    /// Where the CA certificate was written (for `REQUESTS_CA_BUNDLE`).
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    pub fn tenant_id(&self) -> String {
        self.app.store.read(|s| s.tenant_id.clone())
    }

    /// The default subscription's id.
    pub fn default_subscription(&self) -> String {
        self.app.store.read(|s| s.default_subscription.clone())
    }

    /// The default subscription with its owner's credentials.
    pub fn default_credentials(&self) -> SubscriptionCredentials {
        self.app.store.read(|s| {
            let owner = &s.principals[&s.default_client_id];
            SubscriptionCredentials {
                subscription_id: s.default_subscription.clone(),
                tenant_id: s.tenant_id.clone(),
                client_id: owner.client_id.clone(),
                client_secret: owner.secret.clone(),
            }
        })
    }

    /// A bearer token for the owner of `subscription`.
    pub fn token_for(&self, subscription: &str) -> Result<String, SimError> {
        self.app.token_for(subscription).ok_or_else(|| SimError::UnknownSubscription(subscription.to_string()))
    }

    /// A fresh subscription (own owner principal); give each scenario its own.
    pub fn new_subscription(&self, display_name: &str) -> SubscriptionCredentials {
        self.app.store.write(|state| subscriptions::create(state, display_name, self.app.config.addon_generation))
    }

    /// Puts `subscription` on add-on `generation`: its clusters get that add-on at their next
    /// `azurepolicy` enable (an installed add-on stays as it is). Scenarios that document the 2019
    /// preview use this on a server whose default is today's add-on.
    pub fn set_addon_generation(&self, subscription: &str, generation: AddonGeneration) -> Result<(), SimError> {
        self.app.store.write(|state| match state.subscription_mut(subscription) {
            Some(s) => {
                s.addon_generation = generation;
                Ok(())
            }
            None => Err(SimError::UnknownSubscription(subscription.to_string())),
        })
    }

    /// The add-on `subscription`'s clusters get.
    pub fn addon_generation(&self, subscription: &str) -> Result<AddonGeneration, SimError> {
        self.app
            .store
            .read(|state| state.subscription(subscription).map(|s| s.addon_generation))
            .ok_or_else(|| SimError::UnknownSubscription(subscription.to_string()))
    }

    /// Approves a `Pending` preview feature (Microsoft's manual approval in 2019).
    pub fn approve_feature(&self, subscription: &str, namespace: &str, name: &str) -> Result<(), ArmError> {
        self.app.store.write(|state| features::approve(state, subscription, namespace, name)).map(|_| ())
    }

    /// The fault-injection table.
    pub fn faults(&self) -> Faults {
        self.app.faults.clone()
    }

    /// Every compliance report accepted for `cluster_id`, in arrival order.
    pub fn reports(&self, cluster_id: &str) -> Vec<crate::dataplane::ComplianceReport> {
        self.app.reports(cluster_id)
    }

    /// Stops accepting connections, lets in-flight requests finish (1 s at most), and waits.
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.handle.shutdown();
        }
    }
}
