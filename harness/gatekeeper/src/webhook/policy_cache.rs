//! Templates and constraints from the API server into the webhook's [`PolicyClient`]
//! (reference §1.2–§1.4): ConstraintTemplates are watched, each template's kind gets a watcher of
//! its constraints (`<lowercase kind>.constraints.gatekeeper.sh`, v1beta1) while the template
//! exists, and every burst of changes publishes a new snapshot ([`SharedPolicy::update`]).
//!
//! A template that does not compile is skipped here with a log line: reporting it in the
//! template's status is the controller's job ([`crate::controller`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use policy_engine::gatekeeper_v3::{Constraint, ConstraintTemplate, PolicyClient};
use serde_json::Value;

use super::readiness::Readiness;
use super::shared_policy::SharedPolicy;
use super::watch::{Change, Key, Watcher, watch};
pub use crate::resources::{constraint_resource, template_resource};

/// The writer side of [`SharedPolicy`]: the client being built, plus what it cannot give back.
/// Replacing a template drops its kind's constraints from the client, so the constraint objects
/// are kept here and loaded again; synced keys are kept to drop a kind that leaves `syncOnly`.
#[derive(Debug, Default)]
pub struct CacheState {
    pub(super) client: PolicyClient,
    /// Template name → the kind it defines.
    pub(super) template_kinds: BTreeMap<String, String>,
    /// Constraint objects by kind and name, as last watched.
    pub(super) constraints: BTreeMap<String, BTreeMap<String, Value>>,
    /// Synced object keys by (apiVersion, kind).
    pub(super) synced: BTreeMap<(String, String), BTreeSet<Key>>,
}

impl CacheState {
    pub fn new(client: PolicyClient) -> Self {
        Self { client, ..Default::default() }
    }

    pub fn client(&self) -> &PolicyClient {
        &self.client
    }

    /// What admission enforces: the constraints in the client, each at the generation watched.
    pub fn status(&self) -> contracts::gatekeeper::GatekeeperStatus {
        let constraints = self
            .client
            .constraints()
            .map(|c| {
                let object = self.constraints.get(&c.kind).and_then(|by_name| by_name.get(&c.name));
                let generation = object.and_then(|o| o.pointer("/metadata/generation")).and_then(Value::as_i64);
                contracts::gatekeeper::LoadedConstraint {
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    generation: generation.unwrap_or(0),
                }
            })
            .collect();
        let synced_objects = self.synced.values().map(|keys| keys.len() as u64).sum();
        contracts::gatekeeper::GatekeeperStatus { constraints, synced_objects }
    }

    /// Adds or replaces a template and loads its kind's constraints again. Returns the kind it
    /// defines (always the same for one template: its name is the lowercase kind), or `None` when
    /// it does not read or compile (the client is left unchanged).
    pub fn apply_template(&mut self, object: &Value) -> Option<String> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let source = format!("ConstraintTemplate/{name}");
        let template = match ConstraintTemplate::from_value(object, &source) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(template = name, error = %e, "skipping ConstraintTemplate");
                return None;
            }
        };
        let kind = template.kind.clone();
        if let Err(e) = self.client.add_template(template) {
            tracing::warn!(template = name, error = %e, "skipping ConstraintTemplate that does not compile");
            return None;
        }
        self.template_kinds.insert(name.to_string(), kind.clone());
        let objects: Vec<Value> =
            self.constraints.get(&kind).map(|m| m.values().cloned().collect()).unwrap_or_default();
        for object in objects {
            self.load_constraint(&object);
        }
        tracing::info!(template = name, kind = %kind, "ConstraintTemplate loaded");
        Some(kind)
    }

    /// Removes a template and its constraints; returns the kind it defined.
    pub fn remove_template(&mut self, name: &str) -> Option<String> {
        let kind = self.template_kinds.remove(name)?;
        self.client.remove_template(name);
        self.constraints.remove(&kind);
        tracing::info!(template = name, kind = %kind, "ConstraintTemplate removed");
        Some(kind)
    }

    /// Records a constraint and loads it when its template is loaded.
    pub fn apply_constraint(&mut self, object: Value) {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if self.client.template(&kind).is_some() {
            self.load_constraint(&object);
        }
        self.constraints.entry(kind).or_default().insert(name, object);
    }

    pub fn remove_constraint(&mut self, kind: &str, name: &str) {
        if let Some(objects) = self.constraints.get_mut(kind) {
            objects.remove(name);
        }
        self.client.remove_constraint(kind, name);
    }

    /// Loads one constraint object into the client. One that does not read or whose parameters do
    /// not fit is dropped (with its previous version) and logged: it enforces nothing.
    fn load_constraint(&mut self, object: &Value) {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let loaded = Constraint::from_value(object, &format!("{kind}/{name}"))
            .and_then(|constraint| self.client.add_constraint(constraint));
        if let Err(e) = loaded {
            self.client.remove_constraint(kind, name);
            tracing::warn!(kind, constraint = name, error = %e, "skipping constraint");
        }
    }
}

/// Watches ConstraintTemplates forever, and the constraints of each loaded template's kind while
/// the template exists. First lists are marked in `readiness`.
pub async fn run(client: kube::Client, shared: Arc<SharedPolicy>, readiness: Arc<Readiness>) {
    let mut constraint_watchers: HashMap<String, Watcher> = HashMap::new();
    let apply = |changes: Vec<Change>, listed: bool| {
        let (added, removed) = shared.update(|state| {
            let (mut added, mut removed) = (Vec::new(), Vec::new());
            for change in changes {
                match change {
                    Change::Upsert(object) => added.extend(state.apply_template(&object)),
                    Change::Remove((_, name)) => removed.extend(state.remove_template(&name)),
                }
            }
            (added, removed)
        });
        for kind in removed {
            constraint_watchers.remove(&kind);
            readiness.constraints_listed(&kind);
        }
        for kind in added {
            constraint_watchers.entry(kind.clone()).or_insert_with(|| {
                Watcher(tokio::spawn(watch_constraints(client.clone(), shared.clone(), readiness.clone(), kind)))
            });
        }
        if listed {
            readiness.templates_listed(constraint_watchers.keys().cloned());
        }
    };
    watch(client.clone(), template_resource(), apply).await;
}

/// Watches the constraints of `kind` into the shared state.
async fn watch_constraints(client: kube::Client, shared: Arc<SharedPolicy>, readiness: Arc<Readiness>, kind: String) {
    tracing::info!(kind = %kind, "watching constraints");
    watch(client, constraint_resource(&kind), |changes, listed| {
        shared.update(|state| {
            for change in changes {
                match change {
                    Change::Upsert(object) => state.apply_constraint(object),
                    Change::Remove((_, name)) => state.remove_constraint(&kind, &name),
                }
            }
        });
        if listed {
            readiness.constraints_listed(&kind);
        }
    })
    .await;
}

#[cfg(test)]
#[path = "policy_cache_tests.rs"]
mod tests;
