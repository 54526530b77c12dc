//! Reusing a template's results across objects that look the same to it.
//!
//! A template's `violation` depends only on the parts of `input` its rules read (for a template
//! that reads no `data` and calls nothing nondeterministic). Most templates read the pod's
//! containers and their parameters and nothing else that varies, so in a cluster of replicas the
//! same few container specs come back thousands of times: evaluating each once per constraint
//! turns an audit from minutes of interpreter time into seconds.
//!
//! [`ReadSet::of`] finds, from the tokens of the entry module, the rules reachable from `violation`
//! and every literal `input.<a>.<b>...` prefix they read; the memo key of a review is the value at
//! each prefix. The analysis over-approximates (any identifier naming a rule counts as a reference)
//! and gives up (no memo) on anything it cannot bound: bare or computed `input` access, `with`,
//! imports of `input`, nondeterministic builtins, libs, `data`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::rego::tokens::{Code, Kind};

/// Builtin namespaces and calls whose results are not a function of their arguments, and keywords
/// that change what `input` is.
const NOT_MEMOIZABLE: &[&str] = &["with", "time", "rand", "uuid", "http", "opa", "net", "print", "trace", "io"];
/// Keywords that can start a line inside a rule (v1 heads, `else` chains): they continue the rule.
const CONTINUATIONS: &[&str] = &["else"];
/// Keywords that cannot start a top-level statement; the segmentation cannot place them.
const UNPLACEABLE: &[&str] = &["if", "contains", "in", "some", "every", "not", "as"];

/// The `input` prefixes (below `input`) a template's `violation` can read. Empty paths mean the
/// whole input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadSet {
    paths: Vec<Vec<String>>,
}

impl ReadSet {
    /// The read set of an entry module (package already renamed), or `None` when its results may
    /// depend on more than the values at literal `input` prefixes.
    pub fn of(module: &str) -> Option<ReadSet> {
        let code = Code::new(module);
        let rules = statements(&code)?;
        let mut reachable = BTreeSet::new();
        let mut queue = vec!["violation".to_string()];
        let mut paths = BTreeSet::new();
        while let Some(name) = queue.pop() {
            if !reachable.insert(name.clone()) {
                continue;
            }
            for &i in rules.get(&name).into_iter().flatten() {
                match code.ident(i) {
                    Some("input") if !code.is(i.wrapping_sub(1), ".") => {
                        paths.insert(input_path(&code, i)?);
                    }
                    Some(id) if rules.contains_key(id) && !code.is(i.wrapping_sub(1), ".") => {
                        queue.push(id.to_string());
                    }
                    _ => {}
                }
            }
        }
        // `review` makes `review.object` redundant: keep only the shortest prefixes.
        let paths: Vec<Vec<String>> =
            paths.iter().filter(|p| !paths.iter().any(|q| q != *p && p.starts_with(q))).cloned().collect();
        Some(ReadSet { paths })
    }

    /// Whether the key includes the object's name (or all of the review): then it differs for
    /// every object, and remembering results would only cost memory.
    pub fn names_the_object(&self) -> bool {
        let named = |p: &Vec<String>| {
            ["review", "object", "metadata", "name"].starts_with(&p.iter().map(String::as_str).collect::<Vec<_>>()[..])
                || ["review", "name"].starts_with(&p.iter().map(String::as_str).collect::<Vec<_>>()[..])
        };
        self.paths.iter().any(named)
    }

    /// The memo key of `input.review` under this read set (`parameters` is fixed per constraint
    /// and the constraint is part of the key, so it is skipped). `parts` caches the serialized
    /// value of each path for this review: templates often read the same paths.
    pub fn key<'a>(&'a self, review: &serde_json::Value, parts: &mut HashMap<&'a [String], String>) -> String {
        let mut key = String::new();
        for path in &self.paths {
            if path.first().is_some_and(|f| f == "parameters") {
                continue;
            }
            key.push_str(parts.entry(path.as_slice()).or_insert_with(|| part(path, review)));
            key.push('\u{1}');
        }
        key
    }
}

/// The JSON of the value at `path` (below `input`) of a review, or NUL when undefined. Paths
/// other than `review...` name nothing that varies but the review: the whole review stands in.
fn part(path: &[String], review: &serde_json::Value) -> String {
    let value = match path.split_first() {
        Some((first, rest)) if first == "review" => {
            rest.iter().try_fold(review, |node, field| node.as_object().and_then(|m| m.get(field)))
        }
        _ => Some(review),
    };
    match value {
        // Writing JSON to a String cannot fail.
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "\u{0}".to_string(),
    }
}

/// Token indices of every top-level statement, grouped by the rule they define. `None` when a
/// statement cannot be placed or an import brings `input` under another name.
fn statements(code: &Code) -> Option<BTreeMap<String, Vec<usize>>> {
    let mut rules: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut depth = 0usize;
    let mut line_start = true;
    let mut i = 0;
    while i < code.tokens.len() {
        let token = code.tokens[i];
        let text = code.text(i);
        if token.kind == Kind::Ident && NOT_MEMOIZABLE.contains(&text) && !code.is(i.wrapping_sub(1), ".") {
            return None;
        }
        if depth == 0 && line_start && token.kind == Kind::Ident && !CONTINUATIONS.contains(&text) {
            if UNPLACEABLE.contains(&text) {
                return None;
            }
            current = match text {
                "package" => None,
                "import" => {
                    if code.is(i + 1, "input") {
                        return None;
                    }
                    None
                }
                "default" => Some(code.ident(i + 1)?.to_string()),
                name => Some(name.to_string()),
            };
        }
        match token.kind {
            Kind::Newline => line_start = true,
            _ => {
                line_start = false;
                match text {
                    "{" | "[" | "(" => depth += 1,
                    "}" | "]" | ")" => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        if let Some(rule) = &current {
            rules.entry(rule.clone()).or_default().push(i);
        }
        i += 1;
    }
    Some(rules)
}

/// The literal path after `input` at token `i`: `input.a.b` is `[a, b]`. `None` for computed
/// access (`input[x]`), which the key could not bound; a bare `input` is the whole input.
fn input_path(code: &Code, i: usize) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut j = i + 1;
    while code.is(j, ".") {
        path.push(code.ident(j + 1)?.to_string());
        j += 2;
    }
    if code.is(j, "[") && path.is_empty() {
        return None;
    }
    Some(path)
}

/// Results of one constraint for reviews with equal keys: `(msg, details)` pairs.
pub type Results = Arc<Vec<(String, serde_json::Value)>>;

/// A bounded shared memo: results by constraint (kind, name), then key. Cleared when full: it is
/// only a cache.
#[derive(Debug, Default)]
pub struct Memo {
    entries: Mutex<HashMap<(String, String), HashMap<String, Results>>>,
    len: std::sync::atomic::AtomicUsize,
}

const MAX_ENTRIES: usize = 1 << 16;

impl Memo {
    pub fn get(&self, kind: &str, name: &str, key: &str) -> Option<Results> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&(kind.to_string(), name.to_string()))?.get(key).cloned()
    }

    pub fn put(&self, kind: &str, name: &str, key: String, results: Results) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.len.load(Relaxed) >= MAX_ENTRIES {
            entries.clear();
            self.len.store(0, Relaxed);
        }
        let added = entries.entry((kind.to_string(), name.to_string())).or_default().insert(key, results).is_none();
        if added {
            self.len.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"package template

default obj_name = ""
obj_name = n { n := input.review.object.metadata.name }

params = p { p := input.parameters }

containers[c] { c := input.review.object.spec.containers[_] }

violation[{"msg": msg}] {
  c := containers[_]
  c.privileged
  not params.allow
  msg := sprintf("%v", [c.name])
}
"#;

    #[test]
    fn only_reads_reachable_from_violation_count() {
        let set = ReadSet::of(TEMPLATE).unwrap();
        assert_eq!(
            set.paths,
            vec![
                vec!["parameters".to_string()],
                vec!["review".into(), "object".into(), "spec".into(), "containers".into()]
            ]
        );
        let a = serde_json::json!({"name": "a", "object": {"metadata": {"name": "a"}, "spec": {"containers": [1]}}});
        let b = serde_json::json!({"name": "b", "object": {"metadata": {"name": "b"}, "spec": {"containers": [1]}}});
        let c = serde_json::json!({"name": "a", "object": {"metadata": {"name": "a"}, "spec": {"containers": [2]}}});
        let key = |set: &ReadSet, review| set.key(review, &mut HashMap::new());
        assert_eq!(key(&set, &a), key(&set, &b));
        assert_ne!(key(&set, &a), key(&set, &c));
        assert!(!set.names_the_object());
        let with_name = TEMPLATE.replace("[c.name]", "[obj_name]");
        let set = ReadSet::of(&with_name).unwrap();
        assert_ne!(key(&set, &a), key(&set, &b));
        assert!(set.names_the_object());
    }

    #[test]
    fn unbounded_reads_give_up() {
        assert!(ReadSet::of(&TEMPLATE.replace("input.parameters", "input[k]")).is_none());
        assert!(ReadSet::of(&TEMPLATE.replace("not params.allow", "not params.allow with input as {}")).is_none());
        assert!(ReadSet::of(&TEMPLATE.replace("c.privileged", "time.now_ns() > 0")).is_none());
        assert!(ReadSet::of(&format!("{TEMPLATE}\nimport input.review as r\n")).is_none());
        // A bare `input` is the whole input: a key, but one that includes everything.
        let whole = ReadSet::of(&TEMPLATE.replace("input.parameters", "input")).unwrap();
        assert_eq!(whole.paths, vec![Vec::<String>::new()]);
    }

    #[test]
    fn else_chains_stay_with_their_rule() {
        let src = "package template\n\nf(x) = 1 { x == 1 }\nelse = 2 { input.review.object.spec.z }\n\nviolation[{\"msg\": \"m\"}] { f(1) == 2 }\n";
        let set = ReadSet::of(src).unwrap();
        assert_eq!(set.paths, vec![vec!["review".to_string(), "object".into(), "spec".into(), "z".into()]]);
    }
}
