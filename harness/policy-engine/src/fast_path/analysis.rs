//! Which replicated data a module can see, decided from its tokens, so evaluation can hand it only
//! that slice. Evaluating `data.k8s.matches` enumerates every replicated object, so without this an
//! admission would cost time proportional to the cluster, per module.
//!
//! The analysis is conservative: anything it does not recognise yields [`DataNeeds::Everything`],
//! which evaluates exactly as Gatekeeper did.

use std::collections::BTreeSet;

use crate::rego::tokens::{Kind, Token, tokenize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataNeeds {
    /// Reads data only through `matches[["<kind>", ns, name, obj]]` with literal kinds.
    Kinds {
        kinds: BTreeSet<String>,
        /// Literal `resource.kind`s of the `deny` heads; `None` if any head's kind is not literal.
        head_kinds: Option<BTreeSet<String>>,
        /// How many `matches` lookups the module makes. A rule with two joins every object of a
        /// kind with every other, so this orders audit work (costliest first).
        lookups: usize,
    },
    /// Anything else: the whole tree.
    Everything,
}

impl DataNeeds {
    /// A rough rank of evaluation cost for scheduling: whole-tree modules first, then by lookups.
    pub(crate) fn cost_rank(&self) -> usize {
        match self {
            DataNeeds::Everything => usize::MAX,
            DataNeeds::Kinds { lookups, .. } => *lookups,
        }
    }
}

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    &src[t.start..t.end]
}

fn literal(src: &str, t: &Token) -> Option<String> {
    (t.kind == Kind::Str).then(|| serde_json::from_str::<String>(text(src, t)).ok()).flatten()
}

pub(crate) fn analyse(src: &str) -> DataNeeds {
    let tokens: Vec<Token> =
        tokenize(src).into_iter().filter(|t| !matches!(t.kind, Kind::Comment | Kind::Newline)).collect();
    let is = |i: usize, s: &str| tokens.get(i).is_some_and(|t| text(src, t) == s);
    let mut kinds = BTreeSet::new();
    let mut head_kinds = Some(BTreeSet::new());
    let mut lookups = 0;
    for (i, t) in tokens.iter().enumerate() {
        match (t.kind, text(src, t)) {
            (Kind::Ident, "input") => return DataNeeds::Everything,
            (Kind::Ident, "data") => {
                let import = i > 0
                    && is(i - 1, "import")
                    && is(i + 1, ".")
                    && is(i + 2, "k8s")
                    && is(i + 3, ".")
                    && is(i + 4, "matches");
                if !import {
                    return DataNeeds::Everything;
                }
            }
            (Kind::Ident, "matches") if !(i > 0 && is(i - 1, ".")) => {
                // matches[["kind", ns, name, obj]]
                let shape = is(i + 1, "[")
                    && is(i + 2, "[")
                    && is(i + 4, ",")
                    && is(i + 6, ",")
                    && is(i + 8, ",")
                    && is(i + 10, "]");
                let kind = tokens.get(i + 3).and_then(|k| literal(src, k));
                match (shape, kind) {
                    (true, Some(kind)) => {
                        kinds.insert(kind);
                        lookups += 1;
                    }
                    _ => return DataNeeds::Everything,
                }
            }
            (Kind::Str, "\"resource\"") if is(i + 1, ":") => {
                let kind = if is(i + 2, "{") && is(i + 3, "\"kind\"") && is(i + 4, ":") {
                    tokens.get(i + 5).and_then(|k| literal(src, k))
                } else {
                    None
                };
                match (kind, head_kinds.as_mut()) {
                    (Some(kind), Some(set)) => {
                        set.insert(kind);
                    }
                    _ => head_kinds = None,
                }
            }
            _ => {}
        }
    }
    if kinds.is_empty() {
        return DataNeeds::Everything;
    }
    DataNeeds::Kinds { kinds, head_kinds, lookups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatekeeper_v2::builtins::BUILTINS;

    #[test]
    fn builtins_are_recognised() {
        for b in &BUILTINS {
            let needs = analyse(b.source);
            let DataNeeds::Kinds { kinds, head_kinds, lookups } = needs else { panic!("{}: {needs:?}", b.file) };
            assert_eq!(lookups, if b.policy_id == "UniqueIngressHostnames" { 2 } else { 1 }, "{}", b.file);
            assert_eq!(kinds.len(), 1, "{}", b.file);
            assert_eq!(head_kinds, Some(kinds.clone()), "{}", b.file);
        }
    }

    #[test]
    fn other_data_or_input_means_everything() {
        assert_eq!(
            analyse("package a\nimport data.k8s.matches\ndeny[x] { data.kubernetes.pods[_]; x := 1 }"),
            DataNeeds::Everything
        );
        assert_eq!(analyse("package a\ndeny[x] { x := input.y }"), DataNeeds::Everything);
        assert_eq!(
            analyse("package a\nimport data.k8s.matches\ndeny[x] { matches[[k, ns, n, o]]; x := 1 }"),
            DataNeeds::Everything
        );
    }
}
