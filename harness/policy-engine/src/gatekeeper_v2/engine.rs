//! [`PolicyEngine`]: modules by id, the replicated data, and lazily prepared per-module engines.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use regorus::{Engine, Value};

use crate::fast_path::analysis::DataNeeds;
use crate::fast_path::interner::Strings;
use crate::fast_path::{lookups, parallel};
use crate::gatekeeper_v2::admission::{AdmissionTarget, overlay_request};
use crate::gatekeeper_v2::audit;
use crate::gatekeeper_v2::modules::{CompiledModule, compile};
use crate::gatekeeper_v2::prepared::{self, PreparedModule};
use crate::gatekeeper_v2::replicated_data::{ReplicatedData, set_path};
use crate::{EvalError, ModuleError, ModuleFailure, ResourceRef, Violation};

/// The rule an admission variant evaluates ([`crate::fast_path::subject::ADMISSION_LIBRARY`]).
const ADMISSION_RULE: &str = "data.gatekeeper_admission.violations";

/// The same with `matches` precomputed ([`crate::fast_path::lookups`]).
const ADMISSION_OVER_MATCHES_RULE: &str = "data.gatekeeper_admission.violations_over_matches";

/// Modules, replicated objects and the engines prepared from them. See the crate docs.
///
/// Cloning is cheap (reference counts), and a clone is an independent snapshot: later writes to the
/// original do not show through. Engines are prepared on the first evaluation after a change and
/// shared by every clone taken after that, so a server should evaluate (or call [`Self::prepare`])
/// on its writer copy before publishing it.
#[derive(Clone, Default)]
pub struct PolicyEngine {
    modules: BTreeMap<String, Arc<CompiledModule>>,
    data: ReplicatedData,
    strings: Strings,
    prepared: Arc<OnceLock<Arc<[Arc<PreparedModule>]>>>,
    /// Ids of the modules that are audited but not enforced: admission skips them.
    audit_only: BTreeSet<String>,
    /// The last prepared set, for [`prepared::prepare_all`] to reuse unchanged modules from.
    previous: Option<Arc<[Arc<PreparedModule>]>>,
}

impl PolicyEngine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Load or replace the module `id` (`<namespace>/<configmap>/<key>`). On error the previous
    /// version of the module, if any, stays loaded, as OPA kept it.
    pub fn upsert_module(&mut self, id: &str, source: &str) -> Result<(), ModuleError> {
        let compiled = compile(id, source)?;
        self.modules.insert(id.to_string(), Arc::new(compiled));
        self.invalidate();
        Ok(())
    }

    pub fn remove_module(&mut self, id: &str) -> bool {
        self.audit_only.remove(id);
        let removed = self.modules.remove(id).is_some();
        if removed {
            self.invalidate();
        }
        removed
    }

    pub fn module_ids(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    /// Marks the module `id` as audited only (`true`) or enforced (`false`, the default): admission
    /// ([`Self::admit`], [`Self::admit_reference`]) skips an audited-only module, while audits
    /// evaluate it as usual. This is how an assignment in `DoNotEnforce` mode is loaded. The mark
    /// belongs to the id, whether or not a module is loaded under it, until
    /// [`Self::remove_module`]; it changes no compiled or prepared engine.
    pub fn set_audit_only(&mut self, id: &str, audit_only: bool) {
        if audit_only {
            self.audit_only.insert(id.to_string());
        } else {
            self.audit_only.remove(id);
        }
    }

    pub fn is_audit_only(&self, id: &str) -> bool {
        self.audit_only.contains(id)
    }

    /// Store `object` at `data.kubernetes.<plural>.<namespace>.<name>` (or `.<plural>.<name>` when
    /// `namespace` is `None`), replacing what was there.
    pub fn upsert_object(&mut self, plural: &str, namespace: Option<&str>, name: &str, object: serde_json::Value) {
        let object = self.strings.value(&object);
        self.data.upsert(plural, namespace, name, object);
        self.invalidate();
    }

    pub fn remove_object(&mut self, plural: &str, namespace: Option<&str>, name: &str) {
        if self.data.remove(plural, namespace, name) {
            self.invalidate();
        }
    }

    /// Number of replicated objects.
    pub fn object_count(&self) -> usize {
        self.data.count()
    }

    /// Prepare the per-module engines now instead of on the next evaluation.
    pub fn prepare(&self) {
        self.engines();
    }

    /// Drop the prepared engines, keeping them as the base the next preparation reuses from.
    fn invalidate(&mut self) {
        if let Some(prepared) = self.prepared.get() {
            self.previous = Some(prepared.clone());
        }
        self.prepared = Arc::default();
    }

    fn engines(&self) -> &Arc<[Arc<PreparedModule>]> {
        self.prepared.get_or_init(|| prepared::prepare_all(&self.modules, &self.data, self.previous.as_deref()))
    }

    /// Evaluate an AdmissionRequest (see [`crate::admission_review_to_request`]) as Gatekeeper v2
    /// did: every violation whose resource is the object under review.
    ///
    /// Modules that read data only through `matches` run their admission variant (subjects bound
    /// to the request, `subject`), with the replicated `matches` set and join indexes of this
    /// snapshot where the variant still needs them, the request's tuples swapped in; the others
    /// run Gatekeeper's query over the whole tree.
    ///
    /// `Err(EvalError::Modules{..})` when any module failed to evaluate; it still carries the other
    /// modules' violations. Gatekeeper v2 allowed such requests (fail open).
    pub fn admit(&self, request: &serde_json::Value) -> Result<Vec<Violation>, EvalError> {
        let target = AdmissionTarget::of(request)?;
        let request = Value::from(overlay_request(request));
        let pattern = Value::from(target.pattern_resource());
        let violation = |id: &Value, resolution: &Value| violation(&target, id, resolution);
        // The tree holding the request alone; see `kubernetes` below.
        let mut request_only = Value::new_object();
        set_path(&mut request_only, &target.path(), request.clone());
        self.collect(1, Enforced, |module| match (&module.admission, &module.needs) {
            (_, DataNeeds::Kinds { head_kinds: Some(heads), .. }) if !heads.contains(&target.resource) => Ok(vec![]),
            (Some(admission), DataNeeds::Kinds { kinds, .. }) => {
                // After the rewrites the variant reads `data.kubernetes` only through `subject`, at the
                // reviewed path, unless it still evaluates `matches` itself (no precomputed set). So
                // the tree holding just the request answers the same, and spares copying the part of
                // the replicated tree around the path that the overlay would otherwise change.
                let kubernetes = if module.admission_reads_matches && module.replicated_matches.is_none() {
                    let mut slice = self.data.slice(kinds);
                    set_path(&mut slice, &target.path(), request.clone());
                    slice
                } else {
                    request_only.clone()
                };
                let mut input = Value::new_object();
                set_path(&mut input, &["kubernetes"], kubernetes);
                set_path(&mut input, &["resource"], pattern.clone());
                let mut rule = ADMISSION_RULE;
                let index = admission.index()?;
                if module.replicated_matches.is_some() || index.is_some() {
                    // The request hides the replicated object at its path: swap that path's tuples.
                    let (engine, path) = (&admission.engine, target.path());
                    let e = |e: anyhow::Error| format!("{e:#}");
                    let stored = lookups::tuples_at(engine, &path, self.data.at(&path)).map_err(e)?;
                    let requested = lookups::tuples_at(engine, &path, Some(request.clone())).map_err(e)?;
                    if let Some(replicated) = &module.replicated_matches {
                        set_path(
                            &mut input,
                            &["matches"],
                            lookups::with_overlay(replicated, &stored, &requested).map_err(e)?,
                        );
                        rule = ADMISSION_OVER_MATCHES_RULE;
                    }
                    if let Some(index) = index {
                        set_path(&mut input, &["joins"], index.overlaid(engine, &stored, &requested).map_err(e)?);
                    }
                }
                let mut engine = admission.engine.clone();
                engine.set_input(input);
                let found = engine.eval_rule(rule.to_string()).map_err(|e| format!("{e:#}"))?;
                let pairs = found.as_set().map(|set| set.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
                Ok(pairs.iter().map(|pair| violation(&pair[0], &pair[1])).collect())
            }
            _ => gatekeeper_query(module.engine.clone(), &target, &request, &violation),
        })
    }

    /// [`Self::admit`] the slow, literal way: Gatekeeper v2's query over the whole replicated tree
    /// for every module, no analysis, no fast path. The reference the fast paths are tested against
    /// (`tests/fast_path_equivalence.rs`); also useful to diagnose a suspected fast-path difference.
    pub fn admit_reference(&self, request: &serde_json::Value) -> Result<Vec<Violation>, EvalError> {
        let target = AdmissionTarget::of(request)?;
        let request = Value::from(overlay_request(request));
        let violation = |id: &Value, resolution: &Value| violation(&target, id, resolution);
        self.collect(1, Enforced, |module| {
            let mut engine = module.engine.clone();
            if module.needs != DataNeeds::Everything {
                engine.add_data(self.data.root().clone()).map_err(|e| format!("{e:#}"))?;
            }
            gatekeeper_query(engine, &target, &request, &violation)
        })
    }

    /// Every violation over the replicated data (the `/v1/audit` query, no overlay).
    ///
    /// Modules are independent, so they are evaluated on every available core.
    pub fn audit(&self) -> Result<Vec<Violation>, EvalError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.collect(threads, All, |module| {
            let deny = match (&module.needs, &module.audit) {
                (DataNeeds::Everything, _) => module.engine.clone().eval_rule("data.admission.deny".to_string()),
                (DataNeeds::Kinds { kinds, .. }, audit) => {
                    let mut input = Value::new_object();
                    set_path(&mut input, &["kubernetes"], self.data.slice(kinds));
                    let mut engine = match audit {
                        Some(indexed) => {
                            if let Some(index) = indexed.index()? {
                                set_path(&mut input, &["joins"], index.value());
                            }
                            indexed.engine.clone()
                        }
                        None => module.engine.clone(),
                    };
                    engine.set_input(input);
                    engine
                        .eval_query("data.admission.deny with data.kubernetes as input.kubernetes".to_string(), false)
                        .map(|r| {
                            r.result
                                .first()
                                .and_then(|r| r.expressions.first())
                                .map(|e| e.value.clone())
                                .unwrap_or(Value::Undefined)
                        })
                }
            }
            .map_err(|e| format!("{e:#}"))?;
            Ok(audit::decode_deny_set(&deny))
        })
    }

    /// [`Self::audit`] the literal way: every module as loaded over the whole replicated tree, no
    /// slices, no indexed joins. The yardstick of `tests/fast_path_equivalence.rs`.
    pub fn audit_reference(&self) -> Result<Vec<Violation>, EvalError> {
        self.collect(1, All, |module| {
            let mut engine = module.engine.clone();
            if module.needs != DataNeeds::Everything {
                engine.add_data(self.data.root().clone()).map_err(|e| format!("{e:#}"))?;
            }
            let deny = engine.eval_rule("data.admission.deny".to_string()).map_err(|e| format!("{e:#}"))?;
            Ok(audit::decode_deny_set(&deny))
        })
    }

    /// Run `eval` on every module of `which` on up to `threads` threads, merge results as one set
    /// (the shared `deny` set deduplicated identical elements across modules), and report failing
    /// modules in module order.
    fn collect<F>(&self, threads: usize, which: Modules, eval: F) -> Result<Vec<Violation>, EvalError>
    where
        F: Fn(&PreparedModule) -> Result<Vec<Violation>, String> + Sync,
    {
        // Costliest first, so that a quadratic module does not start last and finish alone.
        let mut modules: Vec<&PreparedModule> =
            self.engines().iter().map(|m| &**m).filter(|m| which == All || !self.audit_only.contains(&m.id)).collect();
        modules.sort_by_key(|m| std::cmp::Reverse(m.needs.cost_rank()));
        let mut violations = BTreeSet::new();
        let mut failures = Vec::new();
        for (module, result) in modules.iter().zip(parallel::map(&modules, threads, &|m| eval(m))) {
            match result {
                Ok(found) => violations.extend(found),
                Err(message) => failures.push(ModuleFailure { id: module.id.clone(), message }),
            }
        }
        let violations: Vec<Violation> = violations.into_iter().collect();
        failures.sort_by(|a: &ModuleFailure, b| a.id.cmp(&b.id));
        if failures.is_empty() { Ok(violations) } else { Err(EvalError::Modules { failures, violations }) }
    }
}

/// Which modules an evaluation runs: admission skips the audited-only ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Modules {
    All,
    Enforced,
}
use Modules::{All, Enforced};

/// A violation about the reviewed object from the `id` and `resolution` a pattern bound.
fn violation(target: &AdmissionTarget, id: &Value, resolution: &Value) -> Violation {
    Violation {
        id: audit::text(id),
        resource: ResourceRef {
            kind: target.resource.clone(),
            namespace: target.namespace.clone().unwrap_or_default(),
            name: target.name.clone(),
        },
        message: audit::text(&resolution[&Value::from("message")]),
    }
}

/// Gatekeeper v2's admission query on `engine` (which must hold the data the module reads), the
/// request passed as `input` so it is not parsed as a literal per module.
fn gatekeeper_query(
    mut engine: Engine,
    target: &AdmissionTarget,
    request: &Value,
    violation: &dyn Fn(&Value, &Value) -> Violation,
) -> Result<Vec<Violation>, String> {
    engine.set_input(request.clone());
    let results = engine.eval_query(target.overlay_query(), false).map_err(|e| format!("{e:#}"))?;
    let binding = |r: &regorus::QueryResult, k: &str| r.bindings[&Value::from(k)].clone();
    Ok(results.result.iter().map(|r| violation(&binding(r, "id"), &binding(r, "resolution"))).collect())
}
