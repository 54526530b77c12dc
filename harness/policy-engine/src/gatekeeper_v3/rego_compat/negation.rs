//! D4: OPA's compiler moves the references and nested calls among a call's operands into
//! assignments before the expression (`not f(input.x)` runs as `__local0__ = input.x; not
//! f(__local0__)`). Those assignments are not negated, so an undefined reference makes the whole body
//! fail. regorus negates the call as written, so the same body succeeds. This pass performs the same
//! hoisting on negated statements, which are the only place where it changes a result.
//!
//! What is hoisted follows the shapes measured against OPA (docs/regorus-divergences/D4-*.md):
//! * operands of a call, of a comparison other than `==`, of arithmetic, set operators and `in`:
//!   references with a path (`input.x`, `x.y`, `obj[k]`), rule names, nested calls and infix
//!   sub-expressions, and such terms inside array, set and object literals;
//! * for `a == b`, `a = b` and `equal(a, b)` (which OPA compiles to unification), and for a bare
//!   reference (`not obj[input.k]`): only the dynamic parts inside the operands, such as the
//!   reference in `obj[input.k]` or a call;
//! * never plain local variables, literals or comprehensions (always defined), nor terms that
//!   contain `_` (hoisting those would iterate; OPA rejects them as unsafe anyway).
//!
//! A `with` suffix is repeated on each hoisted assignment, as OPA does. The fresh names are
//! `__compat_localN__`, numbered past any already in the module, so the pass is idempotent.

use super::bodies::Layout;
use crate::rego::tokens::{Code, Kind};

const LOCAL_PREFIX: &str = "__compat_local";

/// Rewrite the outermost negated statements that need hoisting; `None` if there are none. Negations
/// nested inside a rewritten statement (in a comprehension) are left to the next run of the pass.
pub(super) fn hoist_negated_operands(code: &Code, layout: &Layout) -> Option<String> {
    let mut statements: Vec<(usize, usize, bool)> = layout
        .bodies
        .iter()
        .flat_map(|b| code.statements(b.open, b.close).into_iter().map(move |(s, e)| (s, e, b.braced)))
        .filter(|(s, _, _)| code.is(*s, "not"))
        .collect();
    statements.sort();
    let mut next = first_free_local(code);
    let mut edits = Vec::new();
    let mut covered = None;
    for (start, end, braced) in statements {
        if covered.is_some_and(|c| start <= c) {
            continue;
        }
        if let Some(text) = rewrite(code, &layout.rule_names, &mut next, start, end) {
            edits.push((start, end, if braced { text } else { format!("{{ {text} }}") }));
            covered = Some(end);
        }
    }
    (!edits.is_empty()).then(|| code.replace(edits))
}

/// The first `N` such that no `__compat_localM__` with `M >= N` occurs in the module.
fn first_free_local(code: &Code) -> usize {
    (0..code.tokens.len())
        .filter_map(|i| code.ident(i)?.strip_prefix(LOCAL_PREFIX)?.strip_suffix("__")?.parse::<usize>().ok())
        .map(|n| n + 1)
        .max()
        .unwrap_or(0)
}

/// `not EXPR [with ...]` at tokens `start..=end`, rewritten; `None` when nothing is hoisted or the
/// expression has a shape this parser does not model.
fn rewrite(code: &Code, rule_names: &[String], next: &mut usize, start: usize, end: usize) -> Option<String> {
    let mut depth = 0i32;
    let mut with = None;
    for i in start + 1..=end {
        match code.text(i) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "with" if depth == 0 => {
                with = Some(i);
                break;
            }
            _ => {}
        }
    }
    let last = with.map_or(Some(end), |w| (start + 1..w).rev().find(|&j| code.tokens[j].kind != Kind::Newline))?;
    let expr = Parser { code }.expr(start + 1, last)?;
    let with_text = with.map_or(String::new(), |w| format!(" {}", code.span(w, end)));
    let mut h = Hoister { code, rule_names, next, hoisted: Vec::new(), with: &with_text };
    let negated = h.top(&expr);
    if h.hoisted.is_empty() {
        return None;
    }
    Some(format!("{}; not {negated}{with_text}", h.hoisted.join("; ")))
}

/// A parsed term or expression; every variant knows its token range `first..=last`.
#[derive(Debug)]
enum Node {
    /// A literal scalar, a comprehension, or a variable (`var`).
    Leaf {
        first: usize,
        last: usize,
        var: bool,
    },
    /// A reference with a path; `brackets` are the `[`…`]` of its path elements.
    Ref {
        first: usize,
        last: usize,
        brackets: Vec<(usize, usize)>,
    },
    Call {
        first: usize,
        last: usize,
        open: usize,
    },
    /// An array, set or object literal.
    Collection {
        first: usize,
        last: usize,
    },
    Paren {
        first: usize,
        last: usize,
        inner: Box<Node>,
    },
    Infix {
        op: &'static str,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
}

impl Node {
    fn range(&self) -> (usize, usize) {
        match self {
            Node::Leaf { first, last, .. }
            | Node::Ref { first, last, .. }
            | Node::Call { first, last, .. }
            | Node::Collection { first, last }
            | Node::Paren { first, last, .. } => (*first, *last),
            Node::Infix { lhs, rhs, .. } => (lhs.range().0, rhs.range().1),
        }
    }
}

/// Rego's infix operators, loosest first (OPA's parser: `in`, comparisons, `|`, `&`, `+ -`, `* / %`).
const OPERATORS: &[(&str, u8)] = &[
    ("=", 0),
    ("in", 1),
    ("==", 2),
    ("!=", 2),
    ("<=", 2),
    (">=", 2),
    ("<", 2),
    (">", 2),
    ("|", 3),
    ("&", 4),
    ("+", 5),
    ("-", 5),
    ("*", 6),
    ("/", 6),
    ("%", 6),
];

struct Parser<'c, 'a> {
    code: &'c Code<'a>,
}

impl Parser<'_, '_> {
    fn skip_newlines(&self, mut i: usize, last: usize) -> usize {
        while i <= last && self.code.tokens[i].kind == Kind::Newline {
            i += 1;
        }
        i
    }

    /// The whole of `first..=last` as one expression.
    fn expr(&self, first: usize, last: usize) -> Option<Node> {
        let (node, next) = self.climb(first, last, 0)?;
        (self.skip_newlines(next, last) > last).then_some(node)
    }

    /// The operator at `i`: its text, precedence and token count. `:=` is not an operand operator.
    fn operator(&self, i: usize, last: usize) -> Option<(&'static str, u8, usize)> {
        let two = |a: &str, b: &str| {
            self.code.is(i, a)
                && i < last
                && self.code.is(i + 1, b)
                && self.code.tokens[i + 1].start == self.code.tokens[i].end
        };
        let found =
            OPERATORS.iter().filter(|(op, _)| op.len() == 2 && *op != "in").find(|(op, _)| two(&op[..1], &op[1..]));
        if let Some((op, prec)) = found {
            return Some((op, *prec, 2));
        }
        if two(":", "=") {
            return None;
        }
        let text = self.code.text(i);
        OPERATORS.iter().find(|(op, _)| (op.len() == 1 || *op == "in") && *op == text).map(|(op, prec)| (*op, *prec, 1))
    }

    fn climb(&self, first: usize, last: usize, min_prec: u8) -> Option<(Node, usize)> {
        let (mut lhs, mut i) = self.primary(first, last)?;
        loop {
            i = self.skip_newlines(i, last);
            if i > last {
                return Some((lhs, i));
            }
            let (op, prec, len) = self.operator(i, last)?;
            if prec < min_prec {
                return Some((lhs, i));
            }
            let (rhs, next) = self.climb(i + len, last, prec + 1)?;
            lhs = Node::Infix { op, lhs: Box::new(lhs), rhs: Box::new(rhs) };
            i = next;
        }
    }

    /// One operand starting at `i` and the index after it.
    fn primary(&self, i: usize, last: usize) -> Option<(Node, usize)> {
        let code = self.code;
        let i = self.skip_newlines(i, last);
        if i > last {
            return None;
        }
        let token = code.tokens[i];
        match token.kind {
            Kind::Str | Kind::Number => Some((Node::Leaf { first: i, last: i, var: false }, i + 1)),
            Kind::Punct('-') if i < last && code.tokens[i + 1].kind == Kind::Number => {
                Some((Node::Leaf { first: i, last: i + 1, var: false }, i + 2))
            }
            Kind::Punct('(') => {
                let close = code.closing(i).filter(|&c| c <= last)?;
                let inner = Box::new(self.expr(i + 1, close - 1)?);
                Some((Node::Paren { first: i, last: close, inner }, close + 1))
            }
            Kind::Punct('[' | '{') => {
                let close = code.closing(i).filter(|&c| c <= last)?;
                let comprehension = top_level(code, i, close, "|").is_some();
                let node = if comprehension {
                    Node::Leaf { first: i, last: close, var: false }
                } else {
                    Node::Collection { first: i, last: close }
                };
                Some((node, close + 1))
            }
            Kind::Ident => self.reference_or_call(i, last),
            _ => None,
        }
    }

    fn reference_or_call(&self, i: usize, last: usize) -> Option<(Node, usize)> {
        let code = self.code;
        if matches!(code.text(i), "true" | "false" | "null") {
            return Some((Node::Leaf { first: i, last: i, var: false }, i + 1));
        }
        if matches!(code.text(i), "not" | "some" | "every" | "with" | "in" | "if" | "else") {
            return None;
        }
        let mut j = i + 1;
        let mut brackets = Vec::new();
        loop {
            if j < last && code.is(j, ".") && code.tokens[j + 1].kind == Kind::Ident {
                j += 2;
            } else if j <= last && code.is(j, "(") && brackets.is_empty() {
                let close = code.closing(j).filter(|&c| c <= last)?;
                let after = close + 1;
                if after <= last && matches!(code.text(after), "." | "[") {
                    return None;
                }
                return Some((Node::Call { first: i, last: close, open: j }, after));
            } else if j <= last && code.is(j, "[") && code.tokens[j].start == code.tokens[j - 1].end {
                let close = code.closing(j).filter(|&c| c <= last)?;
                brackets.push((j, close));
                j = close + 1;
            } else {
                break;
            }
        }
        let node = if j == i + 1 {
            Node::Leaf { first: i, last: i, var: true }
        } else {
            Node::Ref { first: i, last: j - 1, brackets }
        };
        Some((node, j))
    }
}

/// First token `text` at the own level of the bracket `open..close`.
fn top_level(code: &Code, open: usize, close: usize, text: &str) -> Option<usize> {
    let mut j = open + 1;
    while j < close {
        if code.is(j, text) {
            return Some(j);
        }
        j = if matches!(code.text(j), "(" | "[" | "{") { code.closing(j)? + 1 } else { j + 1 };
    }
    None
}

struct Hoister<'c, 'a> {
    code: &'c Code<'a>,
    rule_names: &'c [String],
    next: &'c mut usize,
    hoisted: Vec<String>,
    with: &'c str,
}

impl Hoister<'_, '_> {
    fn text(&self, node: &Node) -> String {
        let (first, last) = node.range();
        self.code.span(first, last).to_string()
    }

    fn has_wildcard(&self, node: &Node) -> bool {
        let (first, last) = node.range();
        (first..=last).any(|i| self.code.is(i, "_"))
    }

    fn fresh(&mut self, value: String) -> String {
        let name = format!("{LOCAL_PREFIX}{}__", self.next);
        *self.next += 1;
        self.hoisted.push(format!("{name} := {value}{}", self.with));
        name
    }

    /// The negated expression itself: its operands are hoisted, it is not.
    fn top(&mut self, node: &Node) -> String {
        match node {
            Node::Infix { op: "==" | "=", lhs, rhs } => {
                let parts = vec![(lhs.range(), self.in_place(lhs)), (rhs.range(), self.in_place(rhs))];
                self.splice(node.range(), parts)
            }
            Node::Infix { lhs, rhs, .. } => {
                let parts = vec![(lhs.range(), self.hoist(lhs)), (rhs.range(), self.hoist(rhs))];
                self.splice(node.range(), parts)
            }
            Node::Call { first, open, .. } if self.code.is(*first, "equal") && *open == first + 1 => {
                self.arguments(node, false)
            }
            Node::Call { .. } => self.arguments(node, true),
            Node::Paren { inner, .. } => format!("({})", self.top(inner)),
            _ => self.in_place(node),
        }
    }

    /// An operand OPA moves into an assignment (after the terms inside it); the text that replaces it.
    fn hoist(&mut self, node: &Node) -> String {
        if self.has_wildcard(node) {
            return self.text(node);
        }
        match node {
            Node::Leaf { var: true, .. } => {
                let name = self.text(node);
                if self.rule_names.contains(&name) && !matches!(name.as_str(), "input" | "data") {
                    self.fresh(name)
                } else {
                    name
                }
            }
            Node::Leaf { .. } => self.text(node),
            Node::Ref { .. } => {
                let value = self.in_place(node);
                self.fresh(value)
            }
            Node::Call { .. } => {
                let value = self.arguments(node, true);
                self.fresh(value)
            }
            Node::Collection { first, last } => self.elements(*first, *last),
            Node::Paren { inner, .. } => format!("({})", self.hoist(inner)),
            Node::Infix { op, lhs, rhs } => {
                let value = format!("{} {op} {}", self.hoist(lhs), self.hoist(rhs));
                self.fresh(value)
            }
        }
    }

    /// An operand that stays in place; only the dynamic terms inside it move.
    fn in_place(&mut self, node: &Node) -> String {
        match node {
            Node::Ref { brackets, .. } => {
                let mut parts = Vec::new();
                for &(open, close) in brackets {
                    if close > open + 1
                        && let Some(inner) = (Parser { code: self.code }).expr(open + 1, close - 1)
                    {
                        parts.push((inner.range(), self.hoist(&inner)));
                    }
                }
                self.splice(node.range(), parts)
            }
            Node::Leaf { .. } => self.text(node),
            _ => self.hoist(node),
        }
    }

    /// A call with its arguments hoisted (or only their insides, for `equal`).
    fn arguments(&mut self, node: &Node, hoist: bool) -> String {
        let Node::Call { first, last, open } = node else { return self.text(node) };
        let mut parts = Vec::new();
        for (a, b) in pieces(self.code, *open, *last, &[","]) {
            if let Some(arg) = (Parser { code: self.code }).expr(a, b) {
                let text = if hoist { self.hoist(&arg) } else { self.in_place(&arg) };
                parts.push((arg.range(), text));
            }
        }
        self.splice((*first, *last), parts)
    }

    /// A collection literal with each element (and object key and value) hoisted.
    fn elements(&mut self, first: usize, last: usize) -> String {
        let mut parts = Vec::new();
        for (a, b) in pieces(self.code, first, last, &[",", ":"]) {
            if let Some(element) = (Parser { code: self.code }).expr(a, b) {
                parts.push((element.range(), self.hoist(&element)));
            }
        }
        self.splice((first, last), parts)
    }

    /// The source of `range` with each inner range replaced (ranges ascending and disjoint).
    fn splice(&self, (first, last): (usize, usize), parts: Vec<((usize, usize), String)>) -> String {
        let src = self.code.src;
        let mut out = String::new();
        let mut from = self.code.tokens[first].start;
        for ((a, b), text) in parts {
            out.push_str(&src[from..self.code.tokens[a].start]);
            out.push_str(&text);
            from = self.code.tokens[b].end;
        }
        out.push_str(&src[from..self.code.tokens[last].end]);
        out
    }
}

/// The non-empty token ranges between the bracket at `open` and its `close`, split at the given
/// separators on the bracket's own level.
fn pieces(code: &Code, open: usize, close: usize, separators: &[&str]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = open + 1;
    let mut j = open + 1;
    while j <= close {
        if j == close || separators.contains(&code.text(j)) && !code.is(j + 1, "=") {
            if j > start {
                out.push((start, j - 1));
            }
            start = j + 1;
            j += 1;
        } else if matches!(code.text(j), "(" | "[" | "{") {
            j = code.closing(j).unwrap_or(close) + 1;
        } else {
            j += 1;
        }
    }
    out
}
