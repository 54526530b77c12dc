//! The replicated object tree `data.kubernetes.<plural>.<namespace>.<name>` (kube-mgmt's layout;
//! cluster-scoped objects at `data.kubernetes.<plural>.<name>`).
//!
//! The tree is a regorus [`Value`], whose containers are reference-counted and copy-on-write. Upserting
//! or deleting one object clones only the spine of maps along its path, never the other objects, and
//! engines that still hold the previous tree keep seeing it unchanged (snapshot semantics).

use std::collections::{BTreeMap, BTreeSet};

use regorus::Value;

#[derive(Clone)]
pub(crate) struct ReplicatedData {
    /// `{"kubernetes": {...}}`, ready to hand to `Engine::add_data`.
    root: Value,
    count: usize,
    /// Bumped by every change; a kind's entry is the generation of its last change. What was
    /// prepared from the data is reused while the generations it read are unchanged.
    generation: u64,
    kind_generations: BTreeMap<String, u64>,
}

impl Default for ReplicatedData {
    fn default() -> Self {
        let mut root = Value::new_object();
        insert(&mut root, "kubernetes", Value::new_object());
        ReplicatedData { root, count: 0, generation: 0, kind_generations: BTreeMap::new() }
    }
}

/// Insert into an object value; `target` is always an object here.
fn insert(target: &mut Value, key: &str, value: Value) -> Option<Value> {
    target.as_object_mut().ok()?.insert(Value::from(key), value)
}

/// The child map at `key`, created if missing (or if something else sat there).
fn child<'a>(target: &'a mut Value, key: &str) -> &'a mut Value {
    let map = target.as_object_mut().expect("replicated tree nodes are objects");
    let slot = map.get_or_insert_with(Value::from(key), Value::new_object);
    if slot.as_object().is_err() {
        *slot = Value::new_object();
    }
    slot
}

/// Set `value` at `path` under `tree` (an object), creating maps on the way. Copy-on-write: shared
/// maps along the path are cloned, nothing else.
pub(crate) fn set_path(tree: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = tree;
    for key in parents {
        node = child(node, key);
    }
    insert(node, last, value);
}

impl ReplicatedData {
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// `data.kubernetes.<plural>`, or an empty object.
    pub fn kind_tree(&self, plural: &str) -> Value {
        match &self.root[&Value::from("kubernetes")][&Value::from(plural)] {
            Value::Undefined => Value::new_object(),
            v => v.clone(),
        }
    }

    /// The object at `path` below `data.kubernetes`, if any.
    pub fn at(&self, path: &[&str]) -> Option<Value> {
        let mut node = &self.root[&Value::from("kubernetes")];
        for key in path {
            node = &node[&Value::from(*key)];
        }
        (*node != Value::Undefined).then(|| node.clone())
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// `{<kind>: data.kubernetes.<kind>}` for the given kinds (shared, not copied).
    pub fn slice(&self, kinds: &BTreeSet<String>) -> Value {
        let mut slice = Value::new_object();
        for kind in kinds {
            set_path(&mut slice, &[kind], self.kind_tree(kind));
        }
        slice
    }

    /// The generation of the last change to any of `kinds`, or to anything when `None`.
    pub fn generation(&self, kinds: Option<&BTreeSet<String>>) -> u64 {
        match kinds {
            None => self.generation,
            Some(kinds) => kinds.iter().filter_map(|k| self.kind_generations.get(k)).copied().max().unwrap_or(0),
        }
    }

    fn changed(&mut self, plural: &str) {
        self.generation += 1;
        self.kind_generations.insert(plural.to_string(), self.generation);
    }

    pub fn upsert(&mut self, plural: &str, namespace: Option<&str>, name: &str, object: Value) {
        let mut node = child(&mut self.root, "kubernetes");
        node = child(node, plural);
        if let Some(ns) = namespace {
            node = child(node, ns);
        }
        if insert(node, name, object).is_none() {
            self.count += 1;
        }
        self.changed(plural);
    }

    pub fn remove(&mut self, plural: &str, namespace: Option<&str>, name: &str) -> bool {
        let Some(parent) = self.parent_of(plural, namespace) else { return false };
        let removed = parent.as_object_mut().ok().and_then(|m| m.remove(&Value::from(name))).is_some();
        if removed {
            self.count -= 1;
            self.changed(plural);
        }
        removed
    }

    /// The map holding objects of `plural` in `namespace`, if it exists (without creating it).
    fn parent_of(&mut self, plural: &str, namespace: Option<&str>) -> Option<&mut Value> {
        let mut path = vec!["kubernetes", plural];
        path.extend(namespace);
        let mut node = &mut self.root;
        for key in path {
            let map = node.as_object_mut().ok()?;
            if !map.contains_key(&Value::from(key)) {
                return None;
            }
            node = map.get_mut(&Value::from(key))?;
        }
        Some(node)
    }
}
