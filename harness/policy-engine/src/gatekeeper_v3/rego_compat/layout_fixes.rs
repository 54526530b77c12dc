//! D1 and D2: constructs regorus 0.14 parses differently from OPA, fixed by spelling them the way
//! both parsers read alike.
//!
//! * D1: a head with several bodies, `p[x] { A } { B }`, is v0 shorthand for one rule per body.
//!   regorus reads the extra bodies as `else` branches (an error for partial sets, `true` instead of
//!   the head's value for `p = y`, nothing for `f(x) = y`). Repeating the head before each extra body
//!   (on the same line, so line numbers hold) says the same thing without the shorthand.
//! * D2: in a query, a line starting with `(` ends the previous expression for OPA; regorus reads
//!   `input.n` ⏎ `(1 + 1) == 2` as the call `input.n(1 + 1)`. An explicit `;` after the previous
//!   expression makes the separation visible to both.

use super::bodies::{Layout, prev_code};
use crate::rego::tokens::{Code, Kind};

/// D1: repeat the head of every rule written with several bodies in a row.
pub(super) fn split_multi_bodies(code: &Code, layout: &Layout) -> Option<String> {
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for group in &layout.multi_bodies {
        let head = code.span(group.head.0, group.head.1);
        for &open in &group.extra_bodies {
            inserts.push((code.tokens[open].start, format!("{head} ")));
        }
    }
    insert(code.src, inserts)
}

/// D2: a `;` before every statement of a query that starts with `(` on a new line.
pub(super) fn separate_paren_lines(code: &Code, layout: &Layout) -> Option<String> {
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for body in &layout.bodies {
        if !body.braced {
            continue;
        }
        for (start, _) in code.statements(body.open, body.close).into_iter().skip(1) {
            let Some(prev) = prev_code(code, start) else { continue };
            let on_new_line = code.tokens[start - 1].kind == Kind::Newline;
            if code.is(start, "(") && on_new_line && !code.is(prev, ";") {
                inserts.push((code.tokens[prev].end, ";".to_string()));
            }
        }
    }
    insert(code.src, inserts)
}

/// `src` with each text inserted at its byte offset; `None` when there is nothing to insert.
fn insert(src: &str, mut inserts: Vec<(usize, String)>) -> Option<String> {
    if inserts.is_empty() {
        return None;
    }
    inserts.sort_by_key(|(at, _)| *at);
    let mut out = String::with_capacity(src.len() + inserts.iter().map(|(_, s)| s.len()).sum::<usize>());
    let mut from = 0;
    for (at, text) in inserts {
        out.push_str(&src[from..at]);
        out.push_str(&text);
        from = at;
    }
    out.push_str(&src[from..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::bodies::layout;
    use super::*;

    fn d1(src: &str) -> String {
        let code = Code::new(src);
        split_multi_bodies(&code, &layout(&code)).unwrap_or_else(|| src.to_string())
    }

    fn d2(src: &str) -> String {
        let code = Code::new(src);
        separate_paren_lines(&code, &layout(&code)).unwrap_or_else(|| src.to_string())
    }

    #[test]
    fn repeats_heads() {
        assert_eq!(d1("p[x] { x := 1 } { x := 2 }"), "p[x] { x := 1 } p[x] { x := 2 }");
        assert_eq!(d1("p = \"y\" { a }\n{ b }"), "p = \"y\" { a }\np = \"y\" { b }");
        assert_eq!(d1("f(x) = {1} { a } { b } { c }"), "f(x) = {1} { a } f(x) = {1} { b } f(x) = {1} { c }");
    }

    #[test]
    fn leaves_else_chains_literals_strings_and_comments() {
        for src in [
            "p = 1 { a } else = 2 { b }",
            "p = 1 { a } else { b }",
            "p = {1} { a }",
            "p = {\"a\": 1}\nq { true }",
            "p { x := \"{ a } { b }\" }",
            "p { a } # { b }",
            "p { a }\nq { b }",
        ] {
            assert_eq!(d1(src), src);
        }
    }

    #[test]
    fn separates_lines_starting_with_a_parenthesis() {
        assert_eq!(d2("p {\n a := input.n\n (1 + 1) == 2\n}"), "p {\n a := input.n;\n (1 + 1) == 2\n}");
        assert_eq!(d2("p = [x | x := input.n # c\n (1) == 1]"), "p = [x | x := input.n; # c\n (1) == 1]");
        for src in [
            "p {\n a := f(1,\n (2))\n}",
            "p {\n a := 1 +\n (2)\n}",
            "p {\n a := 1;\n (2) == 2\n}",
            "p {\n a := `x\n (2)`\n}",
            "p := input.n\n(1) == 1",
        ] {
            assert_eq!(d2(src), src);
        }
    }
}
