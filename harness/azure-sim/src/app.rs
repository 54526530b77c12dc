//! The shared application object every handler receives: state, settings, the add-on controller and
//! the fault table, and every method on it, here in one place: URLs, policy definitions as this
//! server renders them, the assignments active for a cluster, tokens and reports. Handlers are plain
//! async functions over `Arc<App>`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use contracts::dataplane::ComplianceReport;

use crate::addon::AddonController;
use crate::auth::mint;
use crate::builtins::{self, REGO_MODE};
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::ids::{self, key};
use crate::kubernetes_builtins;
use crate::kubernetes_definitions::is_kubernetes_mode;
use crate::parameters;
use crate::state::{Assignment, SimState, Store};

pub type SharedApp = Arc<App>;

pub struct App {
    pub store: Store,
    pub config: SimConfig,
    pub controller: Arc<dyn AddonController>,
    pub faults: Faults,
    /// The bearer token of `/admin/...`, when it needs one ([`crate::admin::require_credential`]).
    pub admin_token: Option<String>,
    /// The canonical base URL (`https://127.0.0.1:<port>`), known once the listener is bound.
    pub base: OnceLock<String>,
    pub ca_pem: Option<String>,
    /// Custom definitions loaded from `--definitions DIR` (tenant-wide, like the built-ins).
    pub dir_definitions: Vec<Value>,
    /// Their Rego files, by file name, served under `/policies/custom/`.
    pub custom_rego: BTreeMap<String, String>,
}

/// An assignment that applies to a cluster, with its definition and resolved parameters.
#[derive(Debug, Clone)]
pub struct Active {
    pub assignment: Assignment,
    pub definition: Value,
    pub parameters: BTreeMap<String, Value>,
    pub effect: String,
}

impl Active {
    /// Whether the definition is today's `Microsoft.Kubernetes.Data` (else the 2019 Rego mode).
    pub fn is_kubernetes(&self) -> bool {
        self.definition["properties"]["mode"].as_str().is_some_and(is_kubernetes_mode)
    }
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

    /// A stored custom definition as served: a relative `details.policy` (a file of the definitions
    /// directory) points at this server.
    pub fn rendered(&self, mut definition: Value) -> Value {
        let policy = &mut definition["properties"]["policyRule"]["then"]["details"]["policy"];
        if let Some(file) = policy.as_str().filter(|p| !p.contains("://")) {
            *policy = json!(format!("{}/policies/custom/{}", self.base_url(), file.trim_start_matches("./")));
        }
        definition
    }

    /// Built-ins (the nine 2019 ones, then today's catalog) and directory definitions (tenant
    /// level), rendered.
    pub fn tenant_definitions(&self) -> Vec<Value> {
        let base = self.base_url();
        let builtins = builtins::BUILTINS.iter().map(|b| builtins::definition(b, base));
        let current = kubernetes_builtins::all().iter().cloned();
        builtins.chain(current).chain(self.dir_definitions.iter().map(|d| self.rendered(d.clone()))).collect()
    }

    /// A tenant-level definition (built-in or from the directory) by name, rendered.
    pub fn tenant_definition(&self, name: &str) -> Option<Value> {
        if let Some(b) = builtins::find(name) {
            return Some(builtins::definition(b, self.base_url()));
        }
        if let Some(d) = kubernetes_builtins::find(name) {
            return Some(d.clone());
        }
        let found = self.dir_definitions.iter().find(|d| d["name"].as_str().is_some_and(|n| ids::eq(n, name)));
        found.map(|d| self.rendered(d.clone()))
    }

    /// Resolves a `policyDefinitionId` to its rendered body.
    pub fn definition(&self, state: &SimState, id: &str) -> Option<Value> {
        let segs = ids::segments(id);
        let lower: Vec<String> = segs.iter().map(|s| key(s)).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l.as_slice() {
            ["providers", "microsoft.authorization", "policydefinitions", _] => self.tenant_definition(&segs[3]),
            ["subscriptions", sub, "providers", "microsoft.authorization", "policydefinitions", name] => state
                .subscription(sub)
                .and_then(|s| s.definitions.get(*name))
                .map(|d| self.rendered(d.clone()))
                .or_else(|| self.tenant_definition(&segs[5])),
            _ => None,
        }
    }

    /// Assignments active for `cluster_id`: scope contains it, `notScopes` does not, definition in
    /// the Rego mode or `Microsoft.Kubernetes.Data`, resolved effect not `Disabled`. The one place
    /// that decides it, since the dataplane and PolicyInsights must agree.
    pub fn active_for_cluster(&self, state: &SimState, cluster_id: &str) -> Vec<Active> {
        state.assignments.values().filter_map(|a| self.active(state, a, cluster_id)).collect()
    }

    /// The assignment as active for `cluster_id`, or `None`.
    pub fn active(&self, state: &SimState, a: &Assignment, cluster_id: &str) -> Option<Active> {
        let props = &a.properties;
        let excluded =
            props["notScopes"].as_array()?.iter().filter_map(Value::as_str).any(|n| ids::contains(n, cluster_id));
        if !ids::contains(&a.scope, cluster_id) || excluded {
            return None;
        }
        let definition = self.definition(state, props["policyDefinitionId"].as_str()?)?;
        let dprops = &definition["properties"];
        if !dprops["mode"].as_str().is_some_and(|m| ids::eq(m, REGO_MODE) || is_kubernetes_mode(m)) {
            return None;
        }
        let empty = Map::new();
        let declared = dprops["parameters"].as_object().unwrap_or(&empty);
        let given = props["parameters"].as_object().unwrap_or(&empty);
        let parameters = parameters::resolve(declared, given, &a.name, "").ok()?;
        let effect = parameters::expand(&dprops["policyRule"]["then"]["effect"], &parameters, "effect").ok()?;
        let effect = effect.as_str()?.to_string();
        (!effect.eq_ignore_ascii_case("Disabled")).then_some(Active {
            assignment: a.clone(),
            definition,
            parameters,
            effect,
        })
    }

    /// A ready token for the default principal of `subscription`.
    pub fn token_for(&self, subscription: &str) -> Option<String> {
        self.store.read(|state| {
            let owner = &state.subscription(subscription)?.owner_client_id;
            let principal = state.principals.get(owner)?;
            Some(mint(state, &format!("{}/adfs", self.base_url()), principal, "access"))
        })
    }

    /// Every accepted report for `cluster_id` (any casing), in arrival order.
    pub fn reports(&self, cluster_id: &str) -> Vec<ComplianceReport> {
        self.store.read(|state| {
            state.reports.iter().filter(|r| r.cluster_id.eq_ignore_ascii_case(cluster_id)).cloned().collect()
        })
    }
}
