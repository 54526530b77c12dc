//! Builtins that OPA 0.10 had and regorus does not, registered as regorus extensions.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use regorus::{Engine, Value};

/// Compiled patterns shared by every engine clone: the 2019 policies call `re_match` once per
/// container or port with the same assignment-supplied pattern, and compiling a regex costs more
/// than the rest of an admission. Bounded so hostile policies cannot grow it without limit.
/// Shared through an `Arc`: cloning a `Regex` gives the clone an empty matching cache, which it
/// then allocates on every call, a cost that dominated audits of the image and port policies.
fn compiled(pattern: &str) -> anyhow::Result<Arc<regex::Regex>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    const MAX_PATTERNS: usize = 1024;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.read().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(
        regex::Regex::new(pattern)
            .map_err(|e| anyhow::anyhow!("re_match: invalid regular expression {pattern:?}: {e}"))?,
    );
    let mut map = cache.write().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_PATTERNS {
        map.clear();
    }
    map.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// `re_match(pattern, value)`: OPA's deprecated regex **search** (unanchored), today's `regex.match`.
fn re_match(args: Vec<Value>) -> anyhow::Result<Value> {
    match (args.first(), args.get(1)) {
        (Some(Value::String(pattern)), Some(Value::String(value))) => {
            Ok(Value::from(compiled(pattern)?.is_match(value)))
        }
        // OPA treats a non-string operand as a type error: the expression is undefined.
        _ => Ok(Value::Undefined),
    }
}

/// Register every compatibility builtin on `engine`.
pub(crate) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension("re_match".to_string(), 2, Box::new(re_match))
}
