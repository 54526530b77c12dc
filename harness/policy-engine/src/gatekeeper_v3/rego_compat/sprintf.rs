//! D3: `sprintf` with more verbs than arguments (or more arguments than verbs). OPA hands the
//! values to Go's fmt, which prints `%!v(MISSING)` / `%!(EXTRA type=value)` markers; regorus makes
//! the call undefined (an error with strict builtin errors). Gatekeeper templates do write such
//! messages by mistake, and OPA still reports the violation with a marked-up message, so regorus
//! would silently drop it.
//!
//! The fix keeps regorus' own `sprintf` (and so OPA's printing of sets, objects and numbers) and
//! only adjusts the format: `sprintf(F, A)` becomes `sprintf(__compat_sprintf_format(F, A), A)`.
//! The extension (`rego::extensions`) returns `F` unchanged when the counts match, so correct
//! calls print exactly as before. A call whose format and arguments are literals that already match
//! is left as written, which keeps most templates' text untouched.

use crate::rego::extensions::{SPRINTF_FORMAT, go_verbs};
use crate::rego::tokens::{Code, Kind};

/// Wrap the format of every `sprintf` call that may not match its arguments; `None` if none.
pub(super) fn wrap_formats(code: &Code) -> Option<String> {
    let mut edits = Vec::new();
    for i in 0..code.tokens.len() {
        if code.tokens[i].kind != Kind::Ident || !code.is(i, "sprintf") || !code.is(i + 1, "(") {
            continue;
        }
        if i > 0 && code.is(i - 1, ".") || is_definition(code, i) {
            continue;
        }
        let Some(close) = code.closing(i + 1) else { continue };
        let Some([(f1, f2), (a1, a2)]) = two_arguments(code, i + 1, close) else { continue };
        if code.is(f1, SPRINTF_FORMAT) || literals_match(code, (f1, f2), (a1, a2)) {
            continue;
        }
        let wrapped = format!("{SPRINTF_FORMAT}({}, {})", code.span(f1, f2), code.span(a1, a2));
        edits.push((f1, f2, wrapped));
    }
    // Calls nested in another call's arguments overlap its copy; the next run picks them up.
    let mut kept: Vec<(usize, usize, String)> = Vec::new();
    for edit in edits {
        if kept.last().is_none_or(|k| edit.0 > k.1) {
            kept.push(edit);
        }
    }
    (!kept.is_empty()).then(|| code.replace(kept))
}

/// A user rule named `sprintf` (a head at the start of a line followed by `=`, `{` or `if`).
fn is_definition(code: &Code, i: usize) -> bool {
    let line_start = i == 0 || code.tokens[i - 1].kind == Kind::Newline;
    let after = code.closing(i + 1).map(|c| code.text(c + 1));
    line_start && matches!(after, Some("=" | "{" | ":" | "if"))
}

/// The token ranges of the first two arguments of the call `open..close`, newlines trimmed.
fn two_arguments(code: &Code, open: usize, close: usize) -> Option<[(usize, usize); 2]> {
    let mut ranges = Vec::new();
    let mut start = open + 1;
    let mut j = open + 1;
    while j <= close && ranges.len() < 2 {
        if j == close || code.is(j, ",") {
            let first = code.next_code(start);
            let last = (first..j).rev().find(|&k| code.tokens[k].kind != Kind::Newline)?;
            ranges.push((first, last));
            start = j + 1;
            j += 1;
        } else if matches!(code.text(j), "(" | "[" | "{") {
            j = code.closing(j)? + 1;
        } else {
            j += 1;
        }
    }
    ranges.try_into().ok()
}

/// A literal format and a literal array whose counts agree (or a format this fix cannot model).
fn literals_match(code: &Code, format: (usize, usize), args: (usize, usize)) -> bool {
    let Some(text) = (format.0 == format.1).then(|| decode(code.text(format.0))).flatten() else { return false };
    if !code.is(args.0, "[") || code.closing(args.0) != Some(args.1) {
        return false;
    }
    let mut count = 0;
    let mut pending = false;
    let mut j = args.0 + 1;
    while j < args.1 {
        match code.text(j) {
            "|" => return false,
            "," => {
                count += usize::from(pending);
                pending = false;
            }
            _ if code.tokens[j].kind == Kind::Newline => {}
            "(" | "[" | "{" => {
                pending = true;
                j = code.closing(j).unwrap_or(args.1);
            }
            _ => pending = true,
        }
        j += 1;
    }
    count += usize::from(pending);
    go_verbs(&text).is_none_or(|verbs| verbs.len() == count)
}

/// The value of a string literal token (`"…"` or `` `…` ``).
fn decode(token: &str) -> Option<String> {
    if let Some(raw) = token.strip_prefix('`') {
        return raw.strip_suffix('`').map(str::to_string);
    }
    serde_json::from_str(token).ok()
}
