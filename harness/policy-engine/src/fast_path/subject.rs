//! The admission fast path: bind each `deny` rule's *subject* to the object under review.
//!
//! A 2019 rule starts with `matches[["<kind>", namespace, name, obj]]` and reports
//! `"resource": {"kind": "<kind>", "namespace": namespace, "name": name}`. The admission query keeps
//! only elements whose resource is the reviewed object (as Gatekeeper v2's admission query did), so only the
//! `matches` tuples at the reviewed path can contribute. Those tuples are exactly two lookups
//! (a tuple names its path): the overlay at `data.kubernetes[kind][ns][name]` and its `.object`. [`rewrite_subjects`]
//! replaces such a subject `matches` by [`SUBJECT_REF`], a library rule doing just those lookups, so
//! an admission costs one object instead of every object of the kind; any *other* `matches` in the
//! body (the "other ingress" of the hostname-conflict policy) still sees the whole replicated kind
//! plus the overlay.
//!
//! Equivalence, per rewritten occurrence: the head's kind is the tuple's literal kind and its
//! namespace and name are the tuple's variables, so an element survives the filter only if its tuple
//! is at the reviewed path, and `subject` yields precisely the `matches` tuples at that path. For a
//! cluster-scoped target the filter has no `namespace` key, so a head with one never survives, and
//! `subject` yields nothing. Occurrences the rewrite cannot prove to be subjects (negated, inside a
//! comprehension, other shapes) are left alone. `tests/fast_path_equivalence.rs` checks the claim
//! against full evaluation over random clusters.

use crate::rego::tokens::{Code, Kind, tokenize};

/// What a rewritten subject refers to.
pub(crate) const SUBJECT_REF: &str = "data.gatekeeper_admission.subject";

/// Module id of [`ADMISSION_LIBRARY`] (synthetic, like the `matches` library's).
pub(crate) const ADMISSION_LIBRARY_ID: &str = "gatekeeper-system/harness-admission/admission.rego";

/// The rule the admission engine evaluates. `input` is `{"resource": <the pattern's resource>,
/// "kubernetes": <replicated kinds with the request overlaid>}`: the `with` reproduces Gatekeeper's
/// overlay, and the pattern its filter. It lives in a module, not in a per-request query string, so
/// no Rego is parsed per admission. `subject` is the `matches` library restricted to the reviewed
/// path: its two rules mirror the library's two rules. `violations_over_matches` and
/// `replicated_matches` serve [`crate::fast_path::lookups`]. The lookups go one level at a time because
/// regorus builds (and, under `RUST_BACKTRACE`, backtraces) an internal error for every nested
/// dynamic reference such as `data.kubernetes[kind][namespace][name]`.
pub(crate) const ADMISSION_LIBRARY: &str = r#"package gatekeeper_admission

violations[[id, resolution]] {
    data.admission.deny[{"id": id, "resource": input.resource, "resolution": resolution}] with data.kubernetes as input.kubernetes
}

violations_over_matches[[id, resolution]] {
    data.admission.deny[{"id": id, "resource": input.resource, "resolution": resolution}] with data.kubernetes as input.kubernetes with data.k8s.matches as input.matches
}

replicated_matches = m {
    m := data.k8s.matches with data.kubernetes as input.kubernetes
}

subject[[kind, namespace, name, resource]] {
    [kind, namespace, name] := [input.resource.kind, input.resource.namespace, input.resource.name]
    of_kind := data.kubernetes[kind]
    in_namespace := of_kind[namespace]
    resource := in_namespace[name]
}

subject[[kind, namespace, name, resource]] {
    [kind, namespace, name] := [input.resource.kind, input.resource.namespace, input.resource.name]
    of_kind := data.kubernetes[kind]
    in_namespace := of_kind[namespace]
    resource := in_namespace[name].object
}
"#;

/// Whether `src` looks up `matches` (other than importing it): after [`rewrite_subjects`], whether
/// the module still reads objects other than the reviewed one.
pub(crate) fn reads_matches(src: &str) -> bool {
    let tokens = tokenize(src);
    tokens.iter().enumerate().any(|(i, t)| {
        t.kind == Kind::Ident
            && &src[t.start..t.end] == "matches"
            && !(i > 0 && &src[tokens[i - 1].start..tokens[i - 1].end] == ".")
    })
}

/// `(kind literal, namespace var, name var)` of a head's `"resource": {...}` object.
fn head_resource(code: &Code, (open, close): (usize, usize)) -> Option<(String, String, String)> {
    let at = (open..close).find(|&i| code.is(i, "\"resource\"") && code.is(i + 1, ":") && code.is(i + 2, "{"))?;
    let end = code.closing(at + 2)?;
    let (mut kind, mut namespace, mut name) = (None, None, None);
    let mut i = code.next_code(at + 3);
    while i < end {
        let value = code.next_code(i + 2);
        match (code.text(i), code.is(i + 1, ":")) {
            ("\"kind\"", true) if code.literal(value).is_some() => kind = code.literal(value),
            ("\"namespace\"", true) => namespace = code.ident(value).map(str::to_string),
            ("\"name\"", true) => name = code.ident(value).map(str::to_string),
            _ => return None,
        }
        i = code.next_code(value + 1);
        if code.is(i, ",") {
            i = code.next_code(i + 1);
        }
    }
    Some((kind?, namespace?, name?))
}

/// Subject occurrences in a body: statements starting with `matches[["<kind>", <namespace>,
/// <name>, <x>]]` (the head's kind and variables) at the body's own nesting level.
fn subjects(code: &Code, (open, close): (usize, usize), head: &(String, String, String)) -> Vec<usize> {
    code.statements(open, close)
        .into_iter()
        .map(|(start, _)| start)
        .filter(|&i| {
            code.matches_lookup(i).is_some_and(|l| {
                l.kind == head.0 && code.ident(l.args[0]) == Some(&head.1) && code.ident(l.args[1]) == Some(&head.2)
            })
        })
        .collect()
}

/// `src` with every provable subject `matches` replaced by [`SUBJECT_REF`] (see the module docs), or
/// `None` when there is none. `src` must read data only through the imported `data.k8s.matches`
/// (`DataNeeds::Kinds`), so `matches` can only mean the library.
pub(crate) fn rewrite_subjects(src: &str) -> Option<String> {
    let code = Code::new(src);
    let mut replace = Vec::new();
    for rule in code.deny_rules() {
        let Some(head) = head_resource(&code, rule.head) else { continue };
        for body in rule.bodies {
            replace.extend(subjects(&code, body, &head));
        }
    }
    if replace.is_empty() {
        return None;
    }
    Some(code.replace(replace.into_iter().map(|i| (i, i, SUBJECT_REF.to_string()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatekeeper_v2::builtins::BUILTINS;

    #[test]
    fn every_builtin_subject_is_rewritten_and_other_objects_are_not() {
        for b in &BUILTINS {
            let out = rewrite_subjects(b.source).unwrap_or_else(|| panic!("{}", b.file));
            assert_eq!(out.matches(SUBJECT_REF).count(), 1, "{}", b.file);
            let others = usize::from(b.policy_id == "UniqueIngressHostnames");
            assert_eq!(out.matches("matches[[").count(), others, "{}", b.file);
        }
    }

    #[test]
    fn unprovable_occurrences_stay() {
        let head = r#"deny[{"id": "x", "resource": {"kind": "pods", "namespace": ns, "name": n}, "resolution": {"message": "m"}}]"#;
        for body in [
            r#"{ matches[["services", ns, n, o]] }"#, // another kind than the head's
            r#"{ matches[["pods", n, ns, o]] }"#,     // variables swapped
            r#"{ x := ns; not matches[["pods", ns, n, o]] }"#, // negated
            r#"{ ns := "a"; n := "b"; xs := [o | matches[["pods", ns, n, o]]] }"#, // comprehension
        ] {
            assert_eq!(rewrite_subjects(&format!("package admission\n{head} {body}\n")), None, "{body}");
        }
        let nonliteral = r#"deny[{"id": "x", "resource": {"kind": k, "namespace": ns, "name": n}, "resolution": {}}] { matches[["pods", ns, n, o]]; k := "pods" }"#;
        assert_eq!(rewrite_subjects(nonliteral), None);
    }

    #[test]
    fn several_bodies_are_each_rewritten() {
        let src = "package admission\nimport data.k8s.matches\n# matches[[\"pods\", ns, n, o]] in a comment\ndeny[{\"id\": 1, \"resource\": {\"name\": n, \"kind\": \"pods\", \"namespace\": ns}, \"resolution\": {}}] {\n  matches[[\"pods\", ns, n, o]]\n} {\n  true; matches[[\"pods\", ns, n, o]]\n}\n";
        let out = rewrite_subjects(src).unwrap();
        assert_eq!(out.matches(SUBJECT_REF).count(), 2, "{out}");
        assert!(out.contains("# matches[[\"pods\", ns, n, o]] in a comment"));
    }
}
