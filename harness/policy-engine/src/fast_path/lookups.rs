//! Precomputed `matches` for admission variants that still look up *other* objects (the
//! hostname-conflict policy compares the reviewed ingress with every other one).
//!
//! Building the `matches` set costs two rule bodies per object of the kind, about two thirds of such
//! an admission. The set of the replicated data changes only with the data, so it is computed once
//! per snapshot; an admission then replaces the tuples of the reviewed path by the overlay's and
//! hands the result in with `with data.k8s.matches`. Every tuple names its path
//! (`[kind, namespace, name, _]`), so the tuples of one path are exactly what the library
//! yields over a tree holding only that path; both sides are computed by the library itself.

use regorus::{Engine, Value};

use crate::gatekeeper_v2::replicated_data::set_path;

/// The library's `matches` over `input.kubernetes` ([`crate::fast_path::subject::ADMISSION_LIBRARY`]).
const MATCHES_RULE: &str = "data.gatekeeper_admission.replicated_matches";

/// `data.k8s.matches` with `data.kubernetes` = `kubernetes`, evaluated in `engine` (an admission
/// variant, which holds the library).
pub(crate) fn matches_over(engine: &Engine, kubernetes: Value) -> anyhow::Result<Value> {
    let mut engine = engine.clone();
    let mut input = Value::new_object();
    set_path(&mut input, &["kubernetes"], kubernetes);
    engine.set_input(input);
    engine.eval_rule(MATCHES_RULE.to_string())
}

/// The tuples `matches` yields for `object` at `path` (below `data.kubernetes`) alone; the empty set
/// when there is no object.
pub(crate) fn tuples_at(engine: &Engine, path: &[&str], object: Option<Value>) -> anyhow::Result<Value> {
    let Some(object) = object else { return Ok(Value::new_set()) };
    let mut tree = Value::new_object();
    set_path(&mut tree, path, object);
    matches_over(engine, tree)
}

/// `replicated` (the set over the replicated kinds) as it is when the tuples of one path change from
/// `stored` to `request` (both from [`tuples_at`]).
pub(crate) fn with_overlay(replicated: &Value, stored: &Value, request: &Value) -> anyhow::Result<Value> {
    let mut set = replicated.clone();
    let tuples = set.as_set_mut()?;
    for tuple in stored.as_set()?.iter() {
        tuples.remove(tuple);
    }
    for tuple in request.as_set()?.iter() {
        tuples.insert(tuple.clone());
    }
    Ok(set)
}
