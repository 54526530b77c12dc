//! Compiling one Rego module into its own regorus engine.
//!
//! Each module gets an engine holding the `k8s.matches` library, the compatibility extensions and the
//! normalised module. Isolation is what lets a broken module be rejected (or fail at evaluation)
//! without taking the other policies with it.

use regorus::Engine;

use crate::ModuleError;
use crate::fast_path::analysis::{DataNeeds, analyse};
use crate::fast_path::joins::{JOIN_KEYS_ID, rewrite_joins};
use crate::fast_path::subject::{ADMISSION_LIBRARY, ADMISSION_LIBRARY_ID, reads_matches, rewrite_subjects};
use crate::gatekeeper_v2::{matches, normalize::normalize};
use crate::rego::extensions;

/// A rewritten form of a module, compiled with the admission library and its join key rules.
#[derive(Clone)]
pub(crate) struct Variant {
    pub engine: Engine,
    /// How many lookups were turned into indexed joins ([`crate::fast_path::joins`]); they read `input.joins`.
    pub joins: usize,
    /// The key rules of those joins (empty without joins): variants with the same key rules share
    /// one index.
    pub keys_module: String,
}

/// A module that parsed, analysed and passed a trial evaluation. Holds no replicated data.
#[derive(Clone)]
pub(crate) struct CompiledModule {
    /// The module as loaded: the reference evaluation, and everything for modules that see the
    /// whole tree.
    pub engine: Engine,
    /// For modules that read data only through `matches` of literal kinds and have indexable
    /// joins: the module with them indexed, for audits.
    pub audit: Option<Variant>,
    /// For modules that read data only through `matches` of literal kinds: the module with its
    /// subjects bound to the reviewed object ([`crate::fast_path::subject`]) and its joins indexed, plus the
    /// admission rule.
    pub admission: Option<Variant>,
    /// The admission variant still looks up other objects through `matches` ([`crate::fast_path::lookups`]).
    pub admission_reads_matches: bool,
    pub needs: DataNeeds,
}

/// The engine every module starts from: Rego v0, `re_match`, `data.k8s.matches`.
fn base_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_rego_v0(true);
    // Both only fail on programming errors (duplicate extension, a broken built-in module).
    extensions::register(&mut engine).expect("register compatibility builtins");
    engine
        .add_policy(matches::MATCHES_MODULE_ID.to_string(), matches::MATCHES_MODULE.to_string())
        .expect("k8s.matches library parses");
    engine
}

/// Compile `source` under `id`.
///
/// Beyond parsing, the module is analysed and evaluated once against empty data. regorus reports an
/// unknown function (say, a builtin it lacks) only when evaluating, where OPA rejected the module at
/// compile time; without the trial such a module would load and then fail every evaluation.
pub(crate) fn compile(id: &str, source: &str) -> Result<CompiledModule, ModuleError> {
    let mut engine = base_engine();
    let normalized = normalize(source);
    let needs = analyse(&normalized);
    engine.add_policy(id.to_string(), normalized.clone()).map_err(|e| module_error(id, &e))?;
    let mut trial = engine.clone();
    match trial.eval_query("data.admission.deny".to_string(), false) {
        Err(e) if is_compile_error(&e) => return Err(module_error(id, &e)),
        _ => {}
    }
    if needs == DataNeeds::Everything {
        return Ok(CompiledModule { engine, audit: None, admission: None, admission_reads_matches: false, needs });
    }
    // This engine never holds data, so it can be analysed once, here, for every snapshot.
    analyse_now(&mut engine);
    let audit = rewrite_joins(&normalized)
        .map(|joins| variant(id, joins.source, Some((joins.keys_module, joins.joins))))
        .transpose()?;
    let subjects_bound = rewrite_subjects(&normalized).unwrap_or_else(|| normalized.clone());
    let (admission, admission_reads_matches) = match rewrite_joins(&subjects_bound) {
        Some(joins) => {
            (variant(id, joins.source.clone(), Some((joins.keys_module, joins.joins)))?, reads_matches(&joins.source))
        }
        None => (variant(id, subjects_bound.clone(), None)?, reads_matches(&subjects_bound)),
    };
    Ok(CompiledModule { engine, audit, admission: Some(admission), admission_reads_matches, needs })
}

/// A rewritten variant of an analysed module, with the admission library and, when it has joins,
/// their key rules. The rewrites keep valid modules valid, so this fails only if one broke the
/// module, which is reported like a compile error.
fn variant(id: &str, source: String, joins: Option<(String, usize)>) -> Result<Variant, ModuleError> {
    let mut engine = base_engine();
    engine
        .add_policy(ADMISSION_LIBRARY_ID.to_string(), ADMISSION_LIBRARY.to_string())
        .map_err(|e| module_error(id, &e))?;
    let (keys_module, count) = joins.unwrap_or_default();
    if count > 0 {
        engine.add_policy(JOIN_KEYS_ID.to_string(), keys_module.clone()).map_err(|e| module_error(id, &e))?;
    }
    engine.add_policy(id.to_string(), source).map_err(|e| module_error(id, &e))?;
    analyse_now(&mut engine);
    Ok(Variant { engine, joins: count, keys_module })
}

/// Run regorus's analysis (scheduling, indexes) now: any query triggers it, and clones of the engine
/// then start from an analysed engine instead of redoing it on their first evaluation.
pub(crate) fn analyse_now(engine: &mut Engine) {
    let _ = engine.eval_query("true".to_string(), false);
}

impl CompiledModule {
    /// Whether what is prepared from this module depends on the replicated data: the whole tree,
    /// a precomputed `matches` set, or join indexes. Otherwise one preparation serves every snapshot.
    pub fn prepared_from_data(&self) -> bool {
        let joins = |v: &Option<Variant>| v.as_ref().is_some_and(|v| v.joins > 0);
        self.needs == DataNeeds::Everything
            || self.admission_reads_matches
            || joins(&self.audit)
            || joins(&self.admission)
    }
}

/// Errors that OPA would have raised at compile time rather than evaluation time.
fn is_compile_error(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    ["could not find function", "used before definition", "unsafe var", "recursion", "is not a function", "expects"]
        .iter()
        .any(|needle| text.contains(needle))
}

/// Turn a regorus error into a [`ModuleError`]. regorus formats located errors as
/// `--> <file>:<line>:<col>`, the offending line and a caret, then `error: <message>`.
pub(crate) fn module_error(id: &str, e: &anyhow::Error) -> ModuleError {
    let text = format!("{e:#}");
    let (line, column) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .and_then(|loc| {
            let mut parts = loc.rsplitn(3, ':');
            let col = parts.next()?.trim().parse().ok()?;
            let line = parts.next()?.trim().parse().ok()?;
            Some((line, col))
        })
        .unwrap_or((0, 0));
    let message = match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(last) if line > 0 => {
            let last = last.trim();
            last.strip_prefix("error: ").unwrap_or(last).to_string()
        }
        _ => text.trim().to_string(),
    };
    ModuleError { id: id.to_string(), line, column, message }
}
