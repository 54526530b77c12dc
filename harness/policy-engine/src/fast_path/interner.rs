//! JSON to regorus values with shared strings, for the replicated tree.
//!
//! Replicated objects repeat the same strings endlessly: every key (`apiVersion`, `metadata`,
//! `containers`, ...) and many values (`v1`, `Pod`, namespaces, images, `100m`). `Value::from`
//! allocates each one afresh, and those allocations dominated the engine's memory (36 MiB for the
//! benchmark's 10,000 objects). Sharing one `Rc<str>` per distinct string keeps the values identical
//! for evaluation while storing each string once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use regorus::{Rc, Value, value::Object};

/// Distinct strings kept for sharing. When the pool is full it starts over: objects already
/// converted keep their strings, later ones share among themselves, and memory stays bounded
/// however many distinct names a long-running cluster produces.
const MAX_STRINGS: usize = 1 << 16;

/// The shared pool; clones share it (it is only a cache, so snapshots need no isolation).
#[derive(Clone, Default)]
pub(crate) struct Strings(Arc<Mutex<HashSet<Rc<str>>>>);

impl Strings {
    /// `json` as a regorus value, strings shared with earlier conversions.
    pub fn value(&self, json: &serde_json::Value) -> Value {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() > MAX_STRINGS {
            pool.clear();
        }
        convert(json, &mut pool)
    }
}

fn intern(s: &str, pool: &mut HashSet<Rc<str>>) -> Value {
    match pool.get(s) {
        Some(shared) => Value::String(shared.clone()),
        None => {
            let shared: Rc<str> = Rc::from(s);
            pool.insert(shared.clone());
            Value::String(shared)
        }
    }
}

fn convert(json: &serde_json::Value, pool: &mut HashSet<Rc<str>>) -> Value {
    use serde_json::Value as J;
    match json {
        J::String(s) => intern(s, pool),
        J::Array(items) => Value::from(items.iter().map(|v| convert(v, pool)).collect::<Vec<_>>()),
        J::Object(map) => Value::from(map.iter().map(|(k, v)| (intern(k, pool), convert(v, pool))).collect::<Object>()),
        // Scalars exactly as regorus converts them.
        scalar => Value::from(scalar.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_equal_regorus_conversion_and_share_strings() {
        let strings = Strings::default();
        let json = serde_json::json!({"a": [1, 2.5, -3, true, null, "x"], "b": {"x": "a", "n": 18446744073709551615u64}, "": {}});
        let (one, two) = (strings.value(&json), strings.value(&json));
        assert_eq!(one, Value::from(json.clone()));
        let (Value::String(a1), Value::String(a2)) = (&one["b"]["x"], &two["b"]["x"]) else { panic!() };
        assert!(Rc::ptr_eq(a1, a2), "the same string is stored once");
    }
}
