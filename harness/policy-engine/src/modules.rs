//! Compiling one Rego module into its own regorus engine.
//!
//! Each module gets an engine holding the `k8s.matches` library, the compatibility extensions and the
//! normalised module. Isolation is what lets a broken module be rejected (or fail at evaluation)
//! without taking the other policies with it.

use regorus::Engine;

use crate::analysis::{analyse, DataNeeds};
use crate::subject::{reads_matches, rewrite_subjects, ADMISSION_LIBRARY, ADMISSION_LIBRARY_ID};
use crate::{extensions, matches, normalize::normalize, ModuleError};

/// A module that parsed, analysed and passed a trial evaluation. Holds no replicated data.
#[derive(Clone)]
pub(crate) struct CompiledModule {
    /// The module as loaded: audits, and admissions of modules that see the whole tree.
    pub engine: Engine,
    /// For modules that read data only through `matches` of literal kinds: the module with its
    /// subjects bound to the reviewed object, plus the admission rule ([`crate::subject`]).
    pub admission: Option<Engine>,
    /// The admission variant still looks up other objects through `matches` ([`crate::lookups`]).
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
    engine
        .add_policy(id.to_string(), normalized.clone())
        .map_err(|e| module_error(id, &e))?;
    let mut trial = engine.clone();
    match trial.eval_query("data.admission.deny".to_string(), false) {
        Err(e) if is_compile_error(&e) => return Err(module_error(id, &e)),
        _ => {}
    }
    let admission_source = match needs {
        DataNeeds::Kinds { .. } => Some(rewrite_subjects(&normalized).unwrap_or_else(|| normalized.clone())),
        DataNeeds::Everything => None,
    };
    let admission_reads_matches = admission_source.as_deref().is_some_and(reads_matches);
    let admission = admission_source.map(|source| admission_engine(id, source)).transpose()?;
    Ok(CompiledModule { engine, admission, admission_reads_matches, needs })
}

/// The admission variant of an analysed module. It is the loaded module when no subject can be
/// bound, so it can only fail if the rewrite broke the module, which is reported like a compile error.
fn admission_engine(id: &str, source: String) -> Result<Engine, ModuleError> {
    let mut engine = base_engine();
    engine
        .add_policy(ADMISSION_LIBRARY_ID.to_string(), ADMISSION_LIBRARY.to_string())
        .and_then(|_| engine.add_policy(id.to_string(), source))
        .map_err(|e| module_error(id, &e))?;
    Ok(engine)
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
