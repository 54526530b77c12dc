//! Compiling a [`ConstraintTemplate`] as frameworks does (reference §1.2): one regorus engine per
//! template (frameworks keeps one compiler per template), the entry module's package renamed to
//! `template` so the rule is always `data.template.violation`, libs under `data.lib`, each module read
//! as Rego v1 first and then as v0.
//!
//! The engine holds no data: templates that read `data.inventory` get it per snapshot
//! ([`super::evaluation`]), so one compilation serves every snapshot.

use regorus::Engine;

use super::constraint_template::ConstraintTemplate;
use super::memo::ReadSet;
use super::{GatekeeperError, rego_compat};
use crate::gatekeeper_v2::modules::module_error;
use crate::rego::tokens::{Code, Kind};

/// The rule every template must define, after the package rename.
pub const VIOLATION_RULE: &str = "data.template.violation";

const MISSING_VIOLATION: &str =
    "invalid ConstraintTemplate: invalid rego: invalid module: missing required rules: [violation]";

/// A template that parsed, defines `violation` and passed a trial evaluation.
#[derive(Debug, Clone)]
pub struct CompiledTemplate {
    pub template: ConstraintTemplate,
    /// Every module loaded and analysed; clone it per evaluation (or per worker).
    pub engine: Engine,
    /// Some module may read `data` beyond `data.lib` (in practice `data.inventory`); only those
    /// templates get the synced objects.
    pub reads_inventory: bool,
    /// What `violation` reads of `input`, when its results can be reused across reviews that agree
    /// on it ([`super::memo`]); `None` for templates with libs or `data` reads, unbounded reads, or
    /// reads of the object's name (a key unique per object).
    pub read_set: Option<ReadSet>,
}

/// Compile `template`. Errors name the template's file, the module's field and the line.
pub fn compile(template: &ConstraintTemplate) -> Result<CompiledTemplate, GatekeeperError> {
    let rego_error = |module: &str, message: String| GatekeeperError::Rego {
        file: template.source.clone(),
        template: template.name.clone(),
        module: module.to_string(),
        message,
    };
    let mut engine = Engine::new();
    // D5: a builtin error makes the expression undefined, as in OPA (strict errors are opt-in there).
    engine.set_strict_builtin_errors(false);
    crate::rego::extensions::register(&mut engine)
        .map_err(|e| rego_error(&template.rego_field, format!("registering builtins: {e:#}")))?;

    let entry = rego_compat::normalize(&template.rego);
    let (_, entry) =
        rename_package(&entry).ok_or_else(|| rego_error(&template.rego_field, "no package declaration".into()))?;
    let mut reads_inventory = reads_data(&entry);
    let entry_read_set = ReadSet::of(&entry);
    add_module(&mut engine, &template.rego_field, entry, template.rego_v1_only)
        .map_err(|m| rego_error(&template.rego_field, m))?;
    for (i, lib) in template.libs.iter().enumerate() {
        let field = format!("{}[{i}]", template.libs_field);
        let lib = rego_compat::normalize(lib);
        let package = package_path(&Code::new(&lib)).map(|(_, _, p)| p);
        match package {
            Some(p) if p.starts_with("lib.") || p.starts_with("lib[") => {}
            found => {
                return Err(rego_error(
                    &field,
                    format!(
                        "a lib's package must be under lib (package lib.<name>), found {}",
                        found.unwrap_or_default()
                    ),
                ));
            }
        }
        reads_inventory |= reads_data(&lib);
        add_module(&mut engine, &field, lib, template.rego_v1_only).map_err(|m| rego_error(&field, m))?;
    }
    if !engine.has_declared_rule_rooted_at(&template.rego_field, "violation").unwrap_or(false) {
        return Err(rego_error(&template.rego_field, MISSING_VIOLATION.into()));
    }
    // regorus reports an unknown function or an unsafe variable only when evaluating, where OPA
    // rejects the template at compile time: a trial evaluation finds them (and prepares the engine,
    // so clones start analysed).
    engine.set_input(regorus::Value::from(serde_json::json!({"review": {}, "parameters": {}})));
    if let Err(e) = engine.eval_rule(VIOLATION_RULE.to_string())
        && is_compile_error(&e)
    {
        let text = format!("{e:#}");
        // The module is the file of regorus's `--> <file>:<line>:<col>` location, if any.
        let module = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("--> "))
            .and_then(|loc| loc.rsplitn(3, ':').nth(2))
            .unwrap_or(&template.rego_field)
            .to_string();
        let error = module_error(&module, &e);
        return Err(rego_error(&module, located(error.line, error.column, &error.message)));
    }
    let read_set = entry_read_set.filter(|set| !reads_inventory && template.libs.is_empty() && !set.names_the_object());
    Ok(CompiledTemplate { template: template.clone(), engine, reads_inventory, read_set })
}

/// Add one module, as Rego v1 and then (unless `v1_only`) as v0. The message is that of the last
/// attempt, with its line.
fn add_module(engine: &mut Engine, id: &str, source: String, v1_only: bool) -> Result<(), String> {
    engine.set_rego_v0(false);
    let v1 = engine.add_policy(id.to_string(), source.clone());
    let result = match v1 {
        Ok(_) => Ok(()),
        Err(e) if v1_only => Err(e),
        Err(_) => {
            engine.set_rego_v0(true);
            engine.add_policy(id.to_string(), source).map(|_| ())
        }
    };
    engine.set_rego_v0(false);
    result.map_err(|e| {
        let error = module_error(id, &e);
        located(error.line, error.column, &error.message)
    })
}

fn located(line: u32, column: u32, message: &str) -> String {
    if line > 0 { format!("line {line}, column {column}: {message}") } else { message.to_string() }
}

/// The package path of a module: token range of the path and its text (`a.b["c"]`).
fn package_path(code: &Code) -> Option<(usize, usize, String)> {
    let start = code.next_code(0);
    if !code.is(start, "package") {
        return None;
    }
    let first = start + 1;
    let mut last = first;
    while code.tokens.get(last + 1).is_some_and(|t| t.kind != Kind::Newline) {
        last += 1;
    }
    code.tokens.get(first).filter(|t| t.kind != Kind::Newline)?;
    Some((first, last, code.span(first, last).to_string()))
}

/// `source` with its package renamed to `template` (frameworks rewrites it to `data.template`);
/// also the declared package. Line numbers are unchanged.
fn rename_package(source: &str) -> Option<(String, String)> {
    let code = Code::new(source);
    let (first, last, declared) = package_path(&code)?;
    Some((declared, code.replace([(first, last, "template".to_string())])))
}

/// Whether the module may read `data` other than `data.lib`: a `data` identifier that is not a
/// field (`x.data`) and not followed by `.lib` or `["lib"]`. Conservative: `data[x]` counts.
fn reads_data(source: &str) -> bool {
    let code = Code::new(source);
    (0..code.tokens.len()).any(|i| {
        let token = code.tokens[i];
        let field = i > 0 && code.is(i - 1, ".");
        let lib = (code.is(i + 1, ".") && code.is(i + 2, "lib")) || (code.is(i + 1, "[") && code.is(i + 2, "\"lib\""));
        token.kind == Kind::Ident && code.is(i, "data") && !field && !lib
    })
}

/// Errors that OPA would have raised at compile time rather than evaluation time.
fn is_compile_error(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    ["could not find function", "used before definition", "unsafe var", "recursion", "is not a function", "expects"]
        .iter()
        .any(|needle| text.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_becomes_template_and_lines_stay() {
        let (declared, renamed) = rename_package("# c\npackage k8s.foo[\"x\"]\n\nviolation[r] { r := 1 }\n").unwrap();
        assert_eq!(declared, "k8s.foo[\"x\"]");
        assert_eq!(renamed, "# c\npackage template\n\nviolation[r] { r := 1 }\n");
    }

    #[test]
    fn data_reads_other_than_lib_are_found() {
        assert!(!reads_data("package a\nimport data.lib.x\np { input.review.object.data.k }"));
        assert!(reads_data("package a\np { data.inventory.cluster[_] }"));
        assert!(reads_data("package a\np { data[x] }"));
    }
}
