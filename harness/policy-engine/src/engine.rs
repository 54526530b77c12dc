//! [`PolicyEngine`]: modules by id, the replicated data, and lazily prepared per-module engines.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use regorus::{Engine, Value};

use crate::analysis::DataNeeds;
use crate::admission::{overlay_request, AdmissionTarget};
use crate::modules::{compile, CompiledModule};
use crate::replicated_data::{set_path, ReplicatedData};
use crate::{audit, EvalError, ModuleError, ModuleFailure, ResourceRef, Violation};

/// A module's engine, analysed and ready: evaluating a clone costs no setup. Modules that read data
/// only through `matches` of known kinds hold no data and get their slice with each query; the others
/// hold the whole replicated tree.
#[derive(Clone)]
pub(crate) struct PreparedModule {
    pub id: String,
    pub engine: Engine,
    pub needs: DataNeeds,
}

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
    prepared: Arc<OnceLock<Arc<[PreparedModule]>>>,
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
        let removed = self.modules.remove(id).is_some();
        if removed {
            self.invalidate();
        }
        removed
    }

    pub fn module_ids(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    /// Store `object` at `data.kubernetes.<plural>.<namespace>.<name>` (or `.<plural>.<name>` when
    /// `namespace` is `None`), replacing what was there.
    pub fn upsert_object(&mut self, plural: &str, namespace: Option<&str>, name: &str, object: serde_json::Value) {
        self.data.upsert(plural, namespace, name, Value::from(object));
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

    fn invalidate(&mut self) {
        self.prepared = Arc::default();
    }

    fn engines(&self) -> &Arc<[PreparedModule]> {
        self.prepared.get_or_init(|| {
            self.modules
                .iter()
                .map(|(id, module)| {
                    let mut engine = module.engine.clone();
                    if module.needs == DataNeeds::Everything {
                        // Cannot conflict: the module engine holds no data of its own.
                        let _ = engine.add_data(self.data.root().clone());
                    }
                    // Any query runs the analysis once; clones then start from a prepared engine.
                    let _ = engine.eval_query("true".to_string(), false);
                    PreparedModule { id: id.clone(), engine, needs: module.needs.clone() }
                })
                .collect()
        })
    }

    /// Evaluate an AdmissionRequest (see [`crate::admission_review_to_request`]) as Gatekeeper v2
    /// did: every violation whose resource is the object under review.
    ///
    /// `Err(EvalError::Modules{..})` when any module failed to evaluate; it still carries the other
    /// modules' violations. Gatekeeper v2 allowed such requests (fail open).
    pub fn admit(&self, request: &serde_json::Value) -> Result<Vec<Violation>, EvalError> {
        let target = AdmissionTarget::of(request)?;
        let request = Value::from(overlay_request(request));
        let resource = ResourceRef {
            kind: target.resource.clone(),
            namespace: target.namespace.clone().unwrap_or_default(),
            name: target.name.clone(),
        };
        let (overlay_query, sliced_query) = (target.overlay_query(), target.sliced_query());
        let mut overlay_only = Value::new_object();
        set_path(&mut overlay_only, &target.path(), request.clone());
        self.collect(|module| {
            let (input, query) = match &module.needs {
                DataNeeds::Everything => (request.clone(), &overlay_query),
                DataNeeds::Kinds { head_kinds: Some(heads), .. } if !heads.contains(&target.resource) => return Ok(vec![]),
                DataNeeds::Kinds { kinds, .. } if !kinds.contains(&target.resource) => return Ok(vec![]),
                DataNeeds::Kinds { local: true, .. } => (overlay_only.clone(), &sliced_query),
                DataNeeds::Kinds { kinds, .. } => {
                    let mut slice = self.slice(kinds);
                    set_path(&mut slice, &target.path(), request.clone());
                    (slice, &sliced_query)
                }
            };
            let mut engine = module.engine.clone();
            engine.set_input(input);
            let results = engine.eval_query(query.clone(), false).map_err(|e| format!("{e:#}"))?;
            Ok(results
                .result
                .iter()
                .map(|r| Violation {
                    id: audit::text(&r.bindings[&Value::from("id")]),
                    resource: resource.clone(),
                    message: audit::text(&r.bindings[&Value::from("resolution")][&Value::from("message")]),
                })
                .collect())
        })
    }

    /// `{<kind>: data.kubernetes.<kind>}` for the given kinds (shared, not copied).
    fn slice(&self, kinds: &BTreeSet<String>) -> Value {
        let mut slice = Value::new_object();
        for kind in kinds {
            set_path(&mut slice, &[kind], self.data.kind_tree(kind));
        }
        slice
    }

    /// Every violation over the replicated data (the `/v1/audit` query, no overlay).
    pub fn audit(&self) -> Result<Vec<Violation>, EvalError> {
        self.collect(|module| {
            let mut engine = module.engine.clone();
            let deny = match &module.needs {
                DataNeeds::Everything => engine.eval_rule("data.admission.deny".to_string()),
                DataNeeds::Kinds { kinds, .. } => {
                    engine.set_input(self.slice(kinds));
                    engine
                        .eval_query("data.admission.deny with data.kubernetes as input".to_string(), false)
                        .map(|r| r.result.first().and_then(|r| r.expressions.first()).map(|e| e.value.clone()).unwrap_or(Value::Undefined))
                }
            }
            .map_err(|e| format!("{e:#}"))?;
            Ok(audit::decode_deny_set(&deny))
        })
    }

    /// Run `eval` on every module, merge results as one set (the shared `deny` set deduplicated
    /// identical elements across modules), and report failing modules.
    fn collect<F>(&self, eval: F) -> Result<Vec<Violation>, EvalError>
    where
        F: Fn(&PreparedModule) -> Result<Vec<Violation>, String>,
    {
        let mut violations = BTreeSet::new();
        let mut failures = Vec::new();
        for module in self.engines().iter() {
            match eval(module) {
                Ok(found) => violations.extend(found),
                Err(message) => failures.push(ModuleFailure { id: module.id.clone(), message }),
            }
        }
        let violations: Vec<Violation> = violations.into_iter().collect();
        if failures.is_empty() {
            Ok(violations)
        } else {
            Err(EvalError::Modules { failures, violations })
        }
    }
}
