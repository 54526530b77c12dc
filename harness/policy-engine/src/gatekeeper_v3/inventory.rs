//! `data.inventory`: synced objects for referential templates (reference §1.7).
//!
//! The tree is a regorus [`Value`] (reference-counted, copy-on-write), so a clone of the inventory
//! is a cheap snapshot and an upsert copies only the maps along one path. Strings are shared across
//! objects ([`crate::fast_path::interner`]): 10,000 synced pods repeat the same keys and values.

use std::collections::BTreeMap;
use std::sync::Arc;

use regorus::Value;

use super::GatekeeperError;
use super::review::object_ref;
use crate::fast_path::interner::Strings;

/// Cluster-scoped objects at `cluster[<gv>][<kind>][<name>]`, namespaced ones at
/// `namespace[<ns>][<gv>][<kind>][<name>]`; `<gv>` is `v1` for the core group, else `group/version`.
#[derive(Clone)]
pub struct Inventory {
    /// `{"cluster": {...}, "namespace": {...}}`; absent branches are created on first use.
    tree: Value,
    /// Synced core `v1` Namespace objects by name, as JSON, for `namespaceSelector`.
    namespaces: Arc<BTreeMap<String, serde_json::Value>>,
    count: usize,
    /// Bumped by every change, so prepared engines know their copy is stale.
    generation: u64,
    strings: Strings,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            tree: Value::new_object(),
            namespaces: Arc::default(),
            count: 0,
            generation: 0,
            strings: Strings::default(),
        }
    }
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory").field("objects", &self.count).field("generation", &self.generation).finish()
    }
}

impl Inventory {
    /// Add or replace an object. `source` names it in errors.
    pub fn upsert(&mut self, object: serde_json::Value, source: &str) -> Result<(), GatekeeperError> {
        let resource = object_ref(&object, source)?;
        if resource.name.is_empty() {
            return Err(GatekeeperError::invalid(source, "metadata.name", "a non-empty string"));
        }
        let api_version = gv(&resource.group, &resource.version);
        if resource.group.is_empty() && resource.kind == "Namespace" {
            Arc::make_mut(&mut self.namespaces).insert(resource.name.clone(), object.clone());
        }
        let value = self.strings.value(&object);
        let path = path(&api_version, &resource.kind, resource.namespace.as_deref(), &resource.name);
        let mut node = &mut self.tree;
        for key in &path[..path.len() - 1] {
            node = child(node, key);
        }
        let map = node.as_object_mut().expect("inventory nodes are objects");
        if map.insert(Value::from(path[path.len() - 1]), value).is_none() {
            self.count += 1;
        }
        self.generation += 1;
        Ok(())
    }

    /// Remove an object by apiVersion, kind, namespace and name; true if it was there.
    pub fn remove(&mut self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        let path = path(api_version, kind, namespace, name);
        if !remove_at(&mut self.tree, &path) {
            return false;
        }
        if kind == "Namespace" && api_version == "v1" {
            Arc::make_mut(&mut self.namespaces).remove(name);
        }
        self.count -= 1;
        self.generation += 1;
        true
    }

    /// The Namespace object of that name, if synced (for `namespaceSelector`).
    pub fn namespace(&self, name: &str) -> Option<&serde_json::Value> {
        self.namespaces.get(name)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes so far; equal generations of one inventory mean equal contents.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// `{"inventory": <tree>}`, ready for `Engine::add_data` (shared, not copied).
    pub fn data(&self) -> Value {
        let mut inventory = self.tree.clone();
        for branch in ["cluster", "namespace"] {
            child(&mut inventory, branch);
        }
        let mut root = Value::new_object();
        if let Ok(map) = root.as_object_mut() {
            map.insert(Value::from("inventory"), inventory);
        }
        root
    }

    /// Every synced object (shared values), cluster-scoped ones first, then by namespace, group
    /// version, kind and name.
    pub fn objects(&self) -> Vec<Value> {
        let mut out = Vec::with_capacity(self.count);
        let cluster = &self.tree[&Value::from("cluster")];
        collect(cluster, 3, &mut out);
        collect(&self.tree[&Value::from("namespace")], 4, &mut out);
        out
    }
}

/// `v1` for the core group, else `group/version`.
fn gv(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

fn path<'a>(api_version: &'a str, kind: &'a str, namespace: Option<&'a str>, name: &'a str) -> Vec<&'a str> {
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => vec!["namespace", ns, api_version, kind, name],
        None => vec!["cluster", api_version, kind, name],
    }
}

/// The child map at `key`, created if missing (or if something else sat there).
fn child<'a>(node: &'a mut Value, key: &str) -> &'a mut Value {
    if node.as_object().is_err() {
        *node = Value::new_object();
    }
    let map = node.as_object_mut().expect("just made an object");
    let slot = map.get_or_insert_with(Value::from(key), Value::new_object);
    if slot.as_object().is_err() {
        *slot = Value::new_object();
    }
    slot
}

/// Remove the leaf at `path`, then every map the removal left empty. True if the leaf was there.
fn remove_at(node: &mut Value, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    let key = Value::from(*first);
    let Ok(map) = node.as_object_mut() else { return false };
    if rest.is_empty() {
        return map.remove(&key).is_some();
    }
    let Some(next) = map.get_mut(&key) else { return false };
    let removed = remove_at(next, rest);
    if removed && next.as_object().is_ok_and(|m| m.is_empty()) {
        map.remove(&key);
    }
    removed
}

/// The leaves `depth` maps below `node`, in key order.
fn collect(node: &Value, depth: usize, out: &mut Vec<Value>) {
    let Ok(map) = node.as_object() else { return };
    for value in map.values() {
        if depth == 1 {
            out.push(value.clone());
        } else {
            collect(value, depth - 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_land_at_gatekeeper_paths_and_can_be_removed() {
        let mut inv = Inventory::default();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}});
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}});
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "a"}});
        for o in [&pod, &ns, &dep] {
            inv.upsert(o.clone(), "t").unwrap();
        }
        inv.upsert(pod.clone(), "t").unwrap();
        assert_eq!(inv.len(), 3);
        let data = serde_json::to_value(inv.data()).unwrap();
        assert_eq!(data["inventory"]["namespace"]["a"]["v1"]["Pod"]["p"], pod);
        assert_eq!(data["inventory"]["namespace"]["a"]["apps/v1"]["Deployment"]["d"], dep);
        assert_eq!(data["inventory"]["cluster"]["v1"]["Namespace"]["a"], ns);
        assert_eq!(inv.namespace("a"), Some(&ns));
        assert_eq!(inv.objects().len(), 3);
        assert!(inv.remove("apps/v1", "Deployment", Some("a"), "d"));
        assert!(!inv.remove("apps/v1", "Deployment", Some("a"), "d"));
        assert!(inv.remove("v1", "Namespace", None, "a"));
        assert_eq!(inv.namespace("a"), None);
        let data = serde_json::to_value(inv.data()).unwrap();
        assert_eq!(data["inventory"]["cluster"], json!({}));
        assert_eq!(inv.len(), 1);
    }
}
