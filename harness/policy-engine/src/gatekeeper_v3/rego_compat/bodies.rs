//! Where the queries of a module are. The rewrites only ever touch queries (rule bodies, `every`
//! bodies, comprehension bodies) or rule heads, so they need to tell a body's `{` from an object or
//! set literal's, which the tokens alone do not say: a `{` that follows an operator, `contains` or
//! `in` starts a literal, any other `{` at a module's top level starts a body.

use crate::rego::tokens::{Code, Kind};

/// One query: its statements are the tokens strictly between `open` and `close`. `open` is a
/// body's `{`, a comprehension's `|` or a brace-less `if`; `close` is the closing bracket or the
/// newline ending a brace-less body (or the token count at the end of input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Body {
    pub open: usize,
    pub close: usize,
    /// `false` for `p if expr`: a rewrite that adds statements must add the braces too.
    pub braced: bool,
}

/// A rule written with several bodies in a row (`p[x] { A } { B }`): the tokens of its head and the
/// `{` of every body after the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MultiBody {
    pub head: (usize, usize),
    pub extra_bodies: Vec<usize>,
}

/// The queries and rule structure of one module.
#[derive(Debug, Default)]
pub(super) struct Layout {
    pub bodies: Vec<Body>,
    pub multi_bodies: Vec<MultiBody>,
    /// Names defined by the module's rules (a plain identifier naming one is a reference for OPA).
    pub rule_names: Vec<String>,
}

/// A punctuation character after which a `{` or `[` is a value, never a body.
fn is_operator(code: &Code, i: usize) -> bool {
    match code.tokens.get(i).map(|t| t.kind) {
        Some(Kind::Punct(c)) => "=:,|&+-*/%<>([!".contains(c),
        Some(Kind::Ident) => matches!(code.text(i), "contains" | "in" | "with" | "as"),
        _ => false,
    }
}

/// Index of the previous token that is not a newline.
pub(super) fn prev_code(code: &Code, i: usize) -> Option<usize> {
    (0..i).rev().find(|&j| code.tokens[j].kind != Kind::Newline)
}

/// Does token `i` (at a module's top level) begin a new rule or directive? Only at the start of a line
/// that does not continue the previous one.
fn starts_statement(code: &Code, i: usize) -> bool {
    let line_start = i == 0 || code.tokens[i - 1].kind == Kind::Newline;
    let continues = prev_code(code, i).is_some_and(|p| is_operator(code, p) || code.is(p, "else"));
    line_start && !continues && code.tokens[i].kind == Kind::Ident && !matches!(code.text(i), "else" | "if")
}

/// The end of a brace-less body starting after `from`: the first newline at depth 0 that is not next
/// to an operator, or the end of input.
fn line_end(code: &Code, from: usize) -> usize {
    let mut i = from;
    while i < code.tokens.len() {
        match code.text(i) {
            "{" | "[" | "(" => i = code.closing(i).unwrap_or(code.tokens.len()),
            _ if code.tokens[i].kind == Kind::Newline => {
                let next = code.next_code(i);
                if !is_operator(code, i.saturating_sub(1)) && !is_operator(code, next) && !code.is(next, "else") {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    code.tokens.len()
}

pub(super) fn layout(code: &Code) -> Layout {
    let mut out = Layout::default();
    module_level(code, &mut out);
    let mut body_braces: Vec<usize> = out.bodies.iter().filter(|b| b.braced).map(|b| b.open).collect();
    every_bodies(code, &mut out, &mut body_braces);
    comprehensions(code, &mut out, &body_braces);
    out.bodies.sort_by_key(|b| b.open);
    out
}

/// Rule bodies, and rules with several bodies in a row.
fn module_level(code: &Code, out: &mut Layout) {
    let n = code.tokens.len();
    let mut statement = 0;
    // The close of the last body when nothing but newlines followed it yet.
    let mut last_close: Option<usize> = None;
    let mut i = 0;
    while i < n {
        if code.tokens[i].kind == Kind::Newline {
            i += 1;
            continue;
        }
        if starts_statement(code, i) {
            statement = i;
            last_close = None;
            let name = if code.is(i, "default") { i + 1 } else { i };
            if let Some(name) = code.ident(name).filter(|s| !matches!(*s, "package" | "import"))
                && !out.rule_names.iter().any(|r| r == name)
            {
                out.rule_names.push(name.to_string());
            }
        }
        let prev = prev_code(code, i);
        match code.text(i) {
            "{" if !prev.is_some_and(|p| is_operator(code, p)) => {
                let close = code.closing(i).unwrap_or(n);
                out.bodies.push(Body { open: i, close, braced: true });
                match (prev, last_close) {
                    (Some(p), Some(c)) if p == c => {
                        if let Some(group) = out.multi_bodies.last_mut().filter(|g| g.head.0 == statement) {
                            group.extra_bodies.push(i);
                        } else if let Some(head_end) = first_body_head_end(code, statement, c) {
                            out.multi_bodies.push(MultiBody { head: (statement, head_end), extra_bodies: vec![i] });
                        }
                    }
                    _ => {}
                }
                last_close = Some(close);
                i = close + 1;
                continue;
            }
            "{" | "[" | "(" => {
                i = code.closing(i).unwrap_or(n) + 1;
                last_close = None;
                continue;
            }
            "if" if !code.is(code.next_code(i + 1), "{") => {
                let close = line_end(code, i + 1);
                out.bodies.push(Body { open: i, close, braced: false });
                i = close;
                last_close = None;
                continue;
            }
            _ => last_close = None,
        }
        i += 1;
    }
}

/// The last head token of the rule starting at `statement` whose first body closes at `close`,
/// provided that body really is the first one (no `else` chain in between).
fn first_body_head_end(code: &Code, statement: usize, close: usize) -> Option<usize> {
    let open = (statement..close).find(|&j| {
        code.is(j, "{") && prev_code(code, j).is_some_and(|p| !is_operator(code, p)) && code.closing(j) == Some(close)
    })?;
    let head_end = prev_code(code, open)?;
    let mut j = statement;
    while j < head_end {
        if code.is(j, "else") {
            return None;
        }
        j = if matches!(code.text(j), "{" | "[" | "(") { code.closing(j)? + 1 } else { j + 1 };
    }
    Some(head_end)
}

/// `every x in xs { ... }` anywhere: the first `{` after `every` that is not a literal.
fn every_bodies(code: &Code, out: &mut Layout, body_braces: &mut Vec<usize>) {
    for i in 0..code.tokens.len() {
        if !code.is(i, "every") || code.tokens[i].kind != Kind::Ident {
            continue;
        }
        let mut j = i + 1;
        while j < code.tokens.len() {
            match code.text(j) {
                "{" if !prev_code(code, j).is_some_and(|p| is_operator(code, p)) => {
                    if let Some(close) = code.closing(j) {
                        out.bodies.push(Body { open: j, close, braced: true });
                        body_braces.push(j);
                    }
                    break;
                }
                "{" | "[" | "(" => j = code.closing(j).unwrap_or(code.tokens.len()),
                "}" | "]" | ")" | ";" => break,
                _ => {}
            }
            j += 1;
        }
    }
}

/// `[x | body]`, `{x | body}` and `{k: v | body}`: a bracket with a `|` at its own level.
fn comprehensions(code: &Code, out: &mut Layout, body_braces: &[usize]) {
    for i in 0..code.tokens.len() {
        if !matches!(code.text(i), "[" | "{") || body_braces.contains(&i) {
            continue;
        }
        let Some(close) = code.closing(i) else { continue };
        let mut j = i + 1;
        while j < close {
            match code.text(j) {
                "|" => {
                    out.bodies.push(Body { open: j, close, braced: true });
                    break;
                }
                "{" | "[" | "(" => j = code.closing(j).unwrap_or(close),
                _ => {}
            }
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(src: &str) -> Vec<String> {
        let code = Code::new(src);
        layout(&code).bodies.iter().map(|b| code.span(b.open, b.close.min(code.tokens.len() - 1)).to_string()).collect()
    }

    #[test]
    fn tells_bodies_from_literals() {
        let src =
            "package t\np = {1} { x := {2} }\nq[{\"a\": 1}] { y := [z | z := 1] }\nr { every v in {1} { v > 0 } }";
        assert_eq!(
            bodies(src),
            ["{ x := {2} }", "{ y := [z | z := 1] }", "| z := 1]", "{ every v in {1} { v > 0 } }", "{ v > 0 }"]
        );
    }

    #[test]
    fn finds_multi_bodies_but_not_else_chains() {
        let code = Code::new("package t\np[x] { x := 1 }\n{ x := 2 } { x := 3 }\nq = 1 { false } else = 2 { true }");
        let l = layout(&code);
        assert_eq!(l.multi_bodies.len(), 1);
        assert_eq!(code.span(l.multi_bodies[0].head.0, l.multi_bodies[0].head.1), "p[x]");
        assert_eq!(l.multi_bodies[0].extra_bodies.len(), 2);
        assert_eq!(l.rule_names, ["p", "q"]);
    }

    #[test]
    fn brace_less_if_bodies_end_at_the_line() {
        assert_eq!(bodies("package t\np if input.x == 1\nq := 2"), ["if input.x == 1\n"]);
    }
}
