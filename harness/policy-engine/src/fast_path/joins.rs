//! Indexed joins: a rule that compares the object it reports on with *every other* object of a kind
//! (the hostname-conflict policy: "another ingress with one of my hosts") costs one pass over that
//! kind per object, so an admission scans the kind and an audit is quadratic. This turns such a
//! lookup into a bucket lookup in an index built once per snapshot.
//!
//! The shape, within one `deny` body at its own nesting level:
//!
//! ```rego
//! e := ...                          # e bound by an earlier statement
//! matches[["<kind>", a, b, o]]      # S: the lookup to index
//! ...
//! o.path[_].to.key == e             # F: a later statement (either side), path of fields, [_], ["lit"]
//! ```
//!
//! S becomes `J := input.joins[<n>][e][_]; J = ["<kind>", a, b, o]` and F stays. `input.joins[n]`
//! maps each value `k` that `o.path[_].to.key` takes, over every tuple `t` of `matches` of that kind,
//! to the set of those `t`; the keys are computed by the engine itself, from F's own path text, in a
//! generated rule ([`JOIN_KEYS_PACKAGE`]).
//!
//! Equivalence: `e` cannot change between S and F (`:=` binds once), F reads only `o` and `e`, and
//! F is kept. So a tuple contributes to the original body iff it is in `matches`, unifies with the
//! pattern and satisfies F; F holds iff some value of the path `== e`, i.e. iff the tuple is in the
//! bucket of `e` (regorus orders and compares values with one `Ord`, so a key lookup finds exactly
//! the `==` values). Buckets hold only `matches` tuples, so the rewrite adds nothing either.
//! `tests/fast_path_equivalence.rs` checks admissions and audits against Gatekeeper's literal query.

use regorus::{Engine, Value};

use crate::rego::tokens::Code;

/// Package of the generated key rules `j<n>[[key, tuple]]` over `input.tuples`.
pub(crate) const JOIN_KEYS_PACKAGE: &str = "gatekeeper_join_keys";

/// Module id of the generated key rules.
pub(crate) const JOIN_KEYS_ID: &str = "gatekeeper-system/harness-joins/keys.rego";

/// Prefix of every identifier the rewrite introduces; modules that use it are left alone.
const RESERVED: &str = "__harness_join";

/// A module with its indexable lookups rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinRewrite {
    pub source: String,
    /// The key rules, `j0`, `j1`, ... in [`JOIN_KEYS_PACKAGE`].
    pub keys_module: String,
    pub joins: usize,
}

/// One indexable lookup found in a body.
struct Join {
    /// First and last token of S.
    lookup: (usize, usize),
    kind: String,
    /// `["<kind>", a, b, o]` as written.
    pattern: String,
    object: String,
    /// F's path side, e.g. `o.spec.rules[_].host`.
    key: String,
    /// The variable F compares with.
    bound: String,
}

/// Whether the tokens `from..=to` are a path from `object`: `o(.f|[_]|["lit"])*`.
fn object_path(code: &Code, from: usize, to: usize, object: &str) -> bool {
    if code.ident(from) != Some(object) {
        return false;
    }
    let mut i = from + 1;
    while i <= to {
        let field = code.is(i, ".") && code.ident(i + 1).is_some();
        let index = code.is(i, "[") && code.is(i + 2, "]") && (code.is(i + 1, "_") || code.literal(i + 1).is_some());
        i += match (field, index) {
            (true, _) => 2,
            (_, true) => 3,
            _ => return false,
        };
    }
    i == to + 1
}

/// F for `object` in the statement `from..=to`: `(key text, bound variable)`.
fn filter(code: &Code, (from, to): (usize, usize), object: &str) -> Option<(String, String)> {
    let eq = (from..to).find(|&i| {
        code.is(i, "=") && code.is(i + 1, "=") && !matches!(code.text(i - 1), "=" | "!" | "<" | ">" | ":")
    })?;
    let (lhs, rhs) = ((from, eq - 1), (eq + 2, to));
    let single = |(a, b): (usize, usize)| (a == b).then(|| code.ident(a)).flatten();
    let path =
        |(a, b): (usize, usize)| (a <= b && object_path(code, a, b, object)).then(|| code.span(a, b).to_string());
    match (path(lhs), single(rhs), single(lhs), path(rhs)) {
        (Some(key), Some(bound), _, _) | (_, _, Some(bound), Some(key)) if bound != object => {
            Some((key, bound.to_string()))
        }
        _ => None,
    }
}

/// The indexable lookups of one body.
fn joins_in(code: &Code, body: (usize, usize)) -> Vec<Join> {
    let statements = code.statements(body.0, body.1);
    let assigned = |s: &(usize, usize)| {
        code.ident(s.0).filter(|_| code.is(s.0 + 1, ":") && code.is(s.0 + 2, "=") && s.1 > s.0 + 2)
    };
    let mut found = Vec::new();
    for (n, &(start, end)) in statements.iter().enumerate() {
        let Some(lookup) = code.matches_lookup(start).filter(|l| l.end == end) else { continue };
        let Some(object) = code.ident(lookup.args[2]) else { continue };
        let earlier: Vec<&str> = statements[..n].iter().filter_map(assigned).collect();
        let Some((key, bound)) = statements[n + 1..]
            .iter()
            .find_map(|&s| filter(code, s, object))
            .filter(|(_, b)| earlier.contains(&b.as_str()))
        else {
            continue;
        };
        found.push(Join {
            lookup: (start, end),
            kind: lookup.kind,
            pattern: code.span(start + 2, end - 1).to_string(),
            object: object.to_string(),
            key,
            bound,
        });
    }
    found
}

/// `src` with every indexable lookup in a `deny` body rewritten (see the module docs), or `None` when
/// there is none. Like the subject rewrite, `src` must read data only through `data.k8s.matches`.
pub(crate) fn rewrite_joins(src: &str) -> Option<JoinRewrite> {
    if src.contains(RESERVED) {
        return None;
    }
    let code = Code::new(src);
    let joins: Vec<Join> =
        code.deny_rules().iter().flat_map(|r| r.bodies.iter().flat_map(|&b| joins_in(&code, b))).collect();
    if joins.is_empty() {
        return None;
    }
    let mut keys_module = format!("package {JOIN_KEYS_PACKAGE}\n");
    for (n, j) in joins.iter().enumerate() {
        let (key, tuple, kind, object, path) = (
            format!("{RESERVED}_key"),
            format!("{RESERVED}_tuple"),
            serde_json::to_string(&j.kind).ok()?,
            &j.object,
            &j.key,
        );
        keys_module.push_str(&format!(
            "\nj{n}[[{key}, {tuple}]] {{\n    {tuple} := input.tuples[_]\n    {tuple}[0] == {kind}\n    {object} := {tuple}[3]\n    {key} := {path}\n}}\n"
        ));
    }
    let source = code.replace(joins.iter().enumerate().map(|(n, j)| {
        (
            j.lookup.0,
            j.lookup.1,
            format!("{RESERVED}{n} := input.joins[{n}][{}][_]; {RESERVED}{n} = {}", j.bound, j.pattern),
        )
    }));
    Some(JoinRewrite { source, keys_module, joins: joins.len() })
}

/// The per-snapshot indexes of a module's joins: `input.joins`, one object `{key: set of tuples}`
/// per join.
#[derive(Clone)]
pub(crate) struct JoinIndex {
    buckets: Vec<Value>,
}

/// `[key, tuple]` pairs of join `n` over `tuples` (a set of `matches` tuples), by the key rule.
fn key_pairs(engine: &Engine, n: usize, tuples: &Value) -> anyhow::Result<Vec<(Value, Value)>> {
    let mut engine = engine.clone();
    let mut input = Value::new_object();
    input.as_object_mut()?.insert(Value::from("tuples"), tuples.clone());
    engine.set_input(input);
    let pairs = engine.eval_rule(format!("data.{JOIN_KEYS_PACKAGE}.j{n}"))?;
    let Ok(pairs) = pairs.as_set() else { return Ok(Vec::new()) };
    Ok(pairs
        .iter()
        .filter_map(|p| Some((p.as_array().ok()?.first()?.clone(), p.as_array().ok()?.get(1)?.clone())))
        .collect())
}

impl JoinIndex {
    /// Index `matches` (the replicated tuples of the module's kinds) for `joins` joins of `engine`,
    /// a variant holding the key rules.
    pub fn build(engine: &Engine, joins: usize, matches: &Value) -> anyhow::Result<Self> {
        let mut buckets = Vec::with_capacity(joins);
        for n in 0..joins {
            let mut index = Value::new_object();
            let object = index.as_object_mut()?;
            for (key, tuple) in key_pairs(engine, n, matches)? {
                let bucket = object.get_or_insert_with(key, Value::new_set);
                bucket.as_set_mut()?.insert(tuple);
            }
            buckets.push(index);
        }
        Ok(JoinIndex { buckets })
    }

    /// `input.joins` as it is once the tuples of one path change from `stored` to `request` (sets of
    /// tuples; [`crate::fast_path::lookups`] computes both with the library).
    pub fn overlaid(&self, engine: &Engine, stored: &Value, request: &Value) -> anyhow::Result<Value> {
        let mut joins = Vec::with_capacity(self.buckets.len());
        for (n, index) in self.buckets.iter().enumerate() {
            let mut index = index.clone();
            for (key, tuple) in key_pairs(engine, n, stored)? {
                if let Some(bucket) = index.as_object_mut()?.get_mut(&key) {
                    bucket.as_set_mut()?.remove(&tuple);
                }
            }
            for (key, tuple) in key_pairs(engine, n, request)? {
                index.as_object_mut()?.get_or_insert_with(key, Value::new_set).as_set_mut()?.insert(tuple);
            }
            joins.push(index);
        }
        Ok(Value::from(joins))
    }

    /// `input.joins` over the snapshot as it is.
    pub fn value(&self) -> Value {
        Value::from(self.buckets.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatekeeper_v2::builtins::BUILTINS;

    fn rule(body: &str) -> String {
        format!(
            "package admission\nimport data.k8s.matches\ndeny[{{\"id\": 1, \"resource\": {{\"kind\": \"ingresses\", \"namespace\": ns, \"name\": n}}, \"resolution\": {{}}}}] {{\n{body}\n}}\n"
        )
    }

    #[test]
    fn only_the_hostname_conflict_builtin_has_a_join() {
        for b in &BUILTINS {
            let rewrite = rewrite_joins(b.source);
            assert_eq!(rewrite.is_some(), b.policy_id == "UniqueIngressHostnames", "{}", b.file);
        }
        let b = BUILTINS.iter().find(|b| b.policy_id == "UniqueIngressHostnames").unwrap();
        let rewrite = rewrite_joins(b.source).unwrap();
        assert_eq!(rewrite.joins, 1);
        assert!(rewrite.source.contains(r#"__harness_join0 := input.joins[0][host][_]; __harness_join0 = ["ingresses", other_namespace, other_name, other_ingress]"#), "{}", rewrite.source);
        assert!(rewrite.source.contains("other_ingress.spec.rules[_].host == host"), "the filter stays");
        assert!(
            rewrite.keys_module.contains("__harness_join_key := other_ingress.spec.rules[_].host"),
            "{}",
            rewrite.keys_module
        );
        assert_eq!(rewrite.source.lines().count(), b.source.lines().count(), "line numbers are kept");
    }

    #[test]
    fn both_sides_and_literal_indexes_are_recognised() {
        let src = rule(
            "matches[[\"ingresses\", ns, n, i]]\nh := i.spec.rules[0].host\nmatches[[\"ingresses\", \"x\", other, o]]\nh == o.metadata[\"annotations\"].host",
        );
        let rewrite = rewrite_joins(&src).unwrap();
        assert!(
            rewrite.source.contains(r#"input.joins[0][h][_]; __harness_join0 = ["ingresses", "x", other, o]"#),
            "{}",
            rewrite.source
        );
        assert!(rewrite.keys_module.contains(r#":= o.metadata["annotations"].host"#), "{}", rewrite.keys_module);
    }

    #[test]
    fn unprovable_shapes_are_left_alone() {
        for body in [
            // The compared variable is bound after the lookup.
            "matches[[\"ingresses\", ns, n, o]]\nh := \"a\"\no.spec.host == h",
            // Bound, but not by an assignment statement of this body.
            "matches[[\"ingresses\", ns, n, i]]\nmatches[[\"ingresses\", a, b, o]]\no.spec.host == i",
            // Not a plain path: a function call, a comparison of two paths, another operator.
            "h := \"a\"\nmatches[[\"ingresses\", a, b, o]]\nlower(o.spec.host) == h",
            "h := \"a\"\nmatches[[\"ingresses\", a, b, o]]\no.spec.host != h",
            "h := \"a\"\nmatches[[\"ingresses\", a, b, o]]\no.spec[x].host == h",
            // Negated or nested lookups.
            "h := \"a\"\nnot matches[[\"ingresses\", a, b, o]]\no.spec.host == h",
            "h := \"a\"\nxs := [o | matches[[\"ingresses\", a, b, o]]; o.spec.host == h]",
            // The lookup continues past `]]`.
            "h := \"a\"\nmatches[[\"ingresses\", a, b, o]] with input as {}\no.spec.host == h",
        ] {
            assert_eq!(rewrite_joins(&rule(body)), None, "{body}");
        }
        assert_eq!(
            rewrite_joins(&rule(
                "__harness_join0 := 1\nh := \"a\"\nmatches[[\"ingresses\", a, b, o]]\no.spec.host == h"
            )),
            None
        );
    }
}
