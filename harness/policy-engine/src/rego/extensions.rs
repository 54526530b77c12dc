//! Builtins that OPA has and regorus does not, registered as regorus extensions: the deprecated
//! `re_match`, `any` and `all` (OPA keeps them for v0 modules), and the helper behind the
//! Gatekeeper v3 load-time rewrite of `sprintf` (see `gatekeeper_v3::rego_compat`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use regorus::{Engine, Value};

/// Compiled patterns shared by every engine clone: the 2019 policies call `re_match` once per
/// container or port with the same assignment-supplied pattern, and compiling a regex costs more
/// than the rest of an admission. Bounded so hostile policies cannot grow it without limit.
/// Shared through an `Arc`: cloning a `Regex` gives the clone an empty matching cache, which it
/// then allocates on every call, a cost that dominated audits of the image and port policies.
fn compiled(pattern: &str) -> anyhow::Result<Arc<regex::Regex>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    const MAX_PATTERNS: usize = 1024;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.read().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(
        regex::Regex::new(pattern)
            .map_err(|e| anyhow::anyhow!("re_match: invalid regular expression {pattern:?}: {e}"))?,
    );
    let mut map = cache.write().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_PATTERNS {
        map.clear();
    }
    map.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// `re_match(pattern, value)`: OPA's deprecated regex **search** (unanchored), today's `regex.match`.
fn re_match(args: Vec<Value>) -> anyhow::Result<Value> {
    match (args.first(), args.get(1)) {
        (Some(Value::String(pattern)), Some(Value::String(value))) => {
            Ok(Value::from(compiled(pattern)?.is_match(value)))
        }
        // OPA treats a non-string operand as a type error: the expression is undefined.
        _ => Ok(Value::Undefined),
    }
}

/// `any(coll)`: some element of an array or set is `true`. OPA rejects other operand types with a
/// type error, which makes the expression undefined.
fn any(args: Vec<Value>) -> anyhow::Result<Value> {
    Ok(elements(args.first()).map_or(Value::Undefined, |mut xs| Value::from(xs.any(|v| *v == Value::Bool(true)))))
}

/// `all(coll)`: every element of an array or set is `true` (so `all([])` is true).
fn all(args: Vec<Value>) -> anyhow::Result<Value> {
    Ok(elements(args.first()).map_or(Value::Undefined, |mut xs| Value::from(xs.all(|v| *v == Value::Bool(true)))))
}

fn elements(coll: Option<&Value>) -> Option<Box<dyn Iterator<Item = &Value> + '_>> {
    match coll? {
        Value::Array(xs) => Some(Box::new(xs.iter())),
        Value::Set(xs) => Some(Box::new(xs.iter())),
        _ => None,
    }
}

/// Name of the extension the v3 rewrite wraps around a `sprintf` format (`rego_compat`).
pub(crate) const SPRINTF_FORMAT: &str = "__compat_sprintf_format";

/// `__compat_sprintf_format(format, args)`: the format that makes regorus' `sprintf` print what Go's
/// fmt (OPA's `sprintf`) prints when the argument count does not match the verbs. regorus makes the
/// call undefined (or an error with strict builtin errors); Go prints `%!v(MISSING)` for each verb
/// without an argument and `%!(EXTRA type=value, ...)` after the text for surplus arguments. The
/// returned format spells those markers with `%%` and formats surplus values with `%v`, so every
/// value is still printed by regorus' own formatting. Formats it cannot follow (argument indexes,
/// `*` widths) and non-array arguments are returned unchanged, leaving `sprintf` to decide.
fn sprintf_format(args: Vec<Value>) -> anyhow::Result<Value> {
    let (Some(Value::String(format)), Some(Value::Array(values))) = (args.first(), args.get(1)) else {
        return Ok(args.into_iter().next().unwrap_or(Value::Undefined));
    };
    Ok(match go_verbs(format) {
        Some(verbs) if verbs.len() != values.len() => Value::from(matched_format(format, &verbs, values.as_slice())),
        _ => Value::String(format.clone()),
    })
}

/// One formatting verb of a Go format string: its byte range (from `%` to the verb letter) and letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verb {
    pub start: usize,
    pub end: usize,
    pub letter: char,
}

/// The verbs of `format` that consume an argument, in order; `None` when the format uses argument
/// indexes (`%[2]v`), `*` widths or ends inside a verb, whose Go output this helper does not model.
pub(crate) fn go_verbs(format: &str) -> Option<Vec<Verb>> {
    let mut verbs = Vec::new();
    let mut chars = format.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '%' {
            continue;
        }
        // Flags, width and precision: digits, `.` and the flag characters.
        while chars.next_if(|(_, c)| "+-# 0123456789.".contains(*c)).is_some() {}
        let (at, letter) = chars.next()?;
        match letter {
            '%' => {}
            '*' | '[' => return None,
            _ => verbs.push(Verb { start, end: at + letter.len_utf8(), letter }),
        }
    }
    Some(verbs)
}

/// `format` with Go's markers for missing or surplus arguments, escaped for `sprintf`.
fn matched_format(format: &str, verbs: &[Verb], values: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 32);
    let mut from = 0;
    for verb in verbs.iter().skip(values.len()) {
        out.push_str(&format[from..verb.start]);
        out.push_str(&format!("%%!{}(MISSING)", verb.letter));
        from = verb.end;
    }
    out.push_str(&format[from..]);
    if values.len() > verbs.len() {
        let extra: Vec<String> = values[verbs.len()..].iter().map(|v| format!("{}=%v", go_type(v))).collect();
        out.push_str(&format!("%%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// The Go type OPA's `sprintf` hands to fmt: integers as `int`, other numbers as `float64`, strings
/// as `string`, and everything else already printed to a `string`.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Number(n) if n.as_i64().is_some() => "int",
        Value::Number(_) => "float64",
        _ => "string",
    }
}

/// Register every compatibility builtin on `engine`.
pub(crate) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension("re_match".to_string(), 2, Box::new(re_match))?;
    engine.add_extension("any".to_string(), 1, Box::new(any))?;
    engine.add_extension("all".to_string(), 1, Box::new(all))?;
    engine.add_extension(SPRINTF_FORMAT.to_string(), 2, Box::new(sprintf_format))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(f: &str, values: Vec<Value>) -> Value {
        sprintf_format(vec![Value::from(f), Value::from(values)]).expect("never errors")
    }

    #[test]
    fn go_verbs_count_what_consumes_an_argument() {
        let letters = |f: &str| go_verbs(f).map(|v| v.iter().map(|v| v.letter).collect::<String>());
        assert_eq!(letters("a %v %% %-5.2f %d"), Some("vfd".into()));
        assert_eq!(letters("%[1]v"), None);
        assert_eq!(letters("%*d"), None);
        assert_eq!(letters("trailing %"), None);
    }

    #[test]
    fn sprintf_format_only_changes_mismatched_formats() {
        assert_eq!(format("%v and %v", vec![Value::from(1)]), Value::from("%v and %%!v(MISSING)"));
        assert_eq!(format("%v", vec![Value::from(1)]), Value::from("%v"));
        assert_eq!(
            format("%v", vec![Value::from(1), Value::from(1.5), Value::from("s")]),
            Value::from("%v%%!(EXTRA float64=%v, string=%v)")
        );
        let not_array = sprintf_format(vec![Value::from("%v"), Value::from(1)]).expect("never errors");
        assert_eq!(not_array, Value::from("%v"));
    }

    #[test]
    fn any_and_all_need_a_collection() {
        let set = Value::from_json_str("[true]").expect("json");
        assert_eq!(any(vec![set.clone()]).expect("ok"), Value::from(true));
        assert_eq!(all(vec![Value::from(Vec::<Value>::new())]).expect("ok"), Value::from(true));
        assert_eq!(any(vec![Value::from("x")]).expect("ok"), Value::Undefined);
        assert_eq!(all(vec![Value::new_object()]).expect("ok"), Value::Undefined);
    }
}
