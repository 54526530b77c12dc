//! A small Rego tokenizer: just enough structure for load-time rewrites to respect strings, raw
//! strings and comments. It never fails; unknown bytes become one-character punctuation tokens, and an
//! unterminated string runs to the end of the input (the real parser reports it later).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ident,
    /// `"…"` or `` `…` `` (including the quotes).
    Str,
    Number,
    Comment,
    Newline,
    /// Any other single character, e.g. `(`, `,`, `.`.
    Punct(char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

/// Tokens of `src`, whitespace other than newlines dropped.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = src[i..].chars().next().unwrap_or(' ');
        let kind = match c {
            '\n' => {
                i += 1;
                Kind::Newline
            }
            c if c.is_whitespace() => {
                i += c.len_utf8();
                continue;
            }
            '#' => {
                i = src[i..].find('\n').map_or(bytes.len(), |n| i + n);
                Kind::Comment
            }
            '"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                Kind::Str
            }
            '`' => {
                i = src[i + 1..].find('`').map_or(bytes.len(), |n| i + n + 2);
                Kind::Str
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Ident
            }
            c if c.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                Kind::Number
            }
            c => {
                i += c.len_utf8();
                Kind::Punct(c)
            }
        };
        // An escape at the very end can step past the input; clamp so spans always slice.
        i = i.min(bytes.len());
        while !src.is_char_boundary(i) {
            i += 1;
        }
        tokens.push(Token { kind, start, end: i });
    }
    tokens
}

/// The code tokens of a module, comments dropped and newlines kept (they separate statements), with
/// the navigation the load-time rewrites share.
pub(crate) struct Code<'a> {
    pub src: &'a str,
    pub tokens: Vec<Token>,
}

/// A `matches[["<kind>", a, b, c]]` lookup: the literal kind, the token indices of `a`, `b`, `c`, and
/// of the closing `]]`'s last token.
pub(crate) struct MatchesLookup {
    pub kind: String,
    pub args: [usize; 3],
    pub end: usize,
}

/// A `deny` rule: its head's brackets and the braces of each of its bodies (`deny[x] { } { }`).
pub(crate) struct DenyRule {
    pub head: (usize, usize),
    pub bodies: Vec<(usize, usize)>,
}

impl<'a> Code<'a> {
    pub fn new(src: &'a str) -> Self {
        Code { src, tokens: tokenize(src).into_iter().filter(|t| t.kind != Kind::Comment).collect() }
    }

    pub fn text(&self, i: usize) -> &'a str {
        self.tokens.get(i).map_or("", |t| &self.src[t.start..t.end])
    }

    /// Source text of tokens `from..=to`, as written.
    pub fn span(&self, from: usize, to: usize) -> &'a str {
        &self.src[self.tokens[from].start..self.tokens[to].end]
    }

    pub fn is(&self, i: usize, s: &str) -> bool {
        self.text(i) == s
    }

    /// The identifier at `i`, unless it is `_`.
    pub fn ident(&self, i: usize) -> Option<&'a str> {
        self.tokens.get(i).filter(|t| t.kind == Kind::Ident).map(|_| self.text(i)).filter(|s| *s != "_")
    }

    /// The string literal at `i`, decoded.
    pub fn literal(&self, i: usize) -> Option<String> {
        self.tokens
            .get(i)
            .filter(|t| t.kind == Kind::Str)
            .and_then(|_| serde_json::from_str::<String>(self.text(i)).ok())
    }

    pub fn next_code(&self, mut i: usize) -> usize {
        while self.tokens.get(i).is_some_and(|t| t.kind == Kind::Newline) {
            i += 1;
        }
        i
    }

    /// Index of the bracket closing the one at `open`, if balanced.
    pub fn closing(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in open..self.tokens.len() {
            match self.text(i) {
                "{" | "[" | "(" => depth += 1,
                "}" | "]" | ")" => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The `matches[["<kind>", a, b, c]]` lookup starting at token `i`: twelve tokens, a literal kind
    /// and three identifiers or literals.
    pub fn matches_lookup(&self, i: usize) -> Option<MatchesLookup> {
        let shape = self.is(i, "matches")
            && self.is(i + 1, "[")
            && self.is(i + 2, "[")
            && self.is(i + 4, ",")
            && self.is(i + 6, ",")
            && self.is(i + 8, ",")
            && self.is(i + 10, "]")
            && self.is(i + 11, "]");
        let term = |j: usize| matches!(self.tokens.get(j).map(|t| t.kind), Some(Kind::Ident | Kind::Str));
        (shape && term(i + 5) && term(i + 7) && term(i + 9)).then_some(())?;
        Some(MatchesLookup { kind: self.literal(i + 3)?, args: [i + 5, i + 7, i + 9], end: i + 11 })
    }

    /// `src` with each inclusive token range replaced by its text. Ranges must be ascending and disjoint.
    pub fn replace(&self, replacements: impl IntoIterator<Item = (usize, usize, String)>) -> String {
        let mut out = String::with_capacity(self.src.len() + 256);
        let mut from = 0;
        for (first, last, text) in replacements {
            out.push_str(&self.src[from..self.tokens[first].start]);
            out.push_str(&text);
            from = self.tokens[last].end;
        }
        out.push_str(&self.src[from..]);
        out
    }

    /// Every top-level `deny[...]` rule with its bodies.
    pub fn deny_rules(&self) -> Vec<DenyRule> {
        let mut rules = Vec::new();
        let mut i = 0;
        while i < self.tokens.len() {
            if !(self.is(i, "deny") && self.is(i + 1, "[")) {
                i = if matches!(self.text(i), "{" | "[" | "(") {
                    self.closing(i).unwrap_or(self.tokens.len()) + 1
                } else {
                    i + 1
                };
                continue;
            }
            let Some(head_end) = self.closing(i + 1) else { break };
            let mut rule = DenyRule { head: (i + 1, head_end), bodies: Vec::new() };
            i = head_end + 1;
            let mut body = self.next_code(i);
            while self.is(body, "{") {
                let Some(end) = self.closing(body) else { break };
                rule.bodies.push((body, end));
                i = end + 1;
                body = self.next_code(i);
            }
            rules.push(rule);
        }
        rules
    }

    /// The statements of the body `{open..close}`, as inclusive token ranges: split at `;` and at
    /// newlines at the body's own nesting level. A newline next to an operator continues the
    /// expression, so it does not split (and a statement that might continue is not returned whole,
    /// which keeps shape checks conservative).
    pub fn statements(&self, open: usize, close: usize) -> Vec<(usize, usize)> {
        let operator = |i: usize| matches!(self.tokens.get(i).map(|t| t.kind), Some(Kind::Punct(c)) if "+-*/%=!<>&|,.:".contains(c));
        let mut out = Vec::new();
        let mut depth = 0i32;
        let mut start = None;
        let mut last = open;
        for i in open + 1..close {
            let t = self.text(i);
            let separator = depth == 0
                && (t == ";"
                    || (self.tokens[i].kind == Kind::Newline && !operator(last) && !operator(self.next_code(i))));
            if separator {
                if let Some(s) = start.take() {
                    out.push((s, last));
                }
                continue;
            }
            if self.tokens[i].kind == Kind::Newline {
                continue;
            }
            match t {
                "{" | "[" | "(" => depth += 1,
                "}" | "]" | ")" => depth -= 1,
                _ => {}
            }
            start.get_or_insert(i);
            last = i;
        }
        if let Some(s) = start {
            out.push((s, last));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        tokenize(src).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn strings_and_comments_are_single_tokens() {
        let src = "x := \"a(b, \\\"c\\\")\" # split(a, b, c)\ny := `raw(\"`";
        assert_eq!(
            kinds(src),
            vec![
                Kind::Ident,
                Kind::Punct(':'),
                Kind::Punct('='),
                Kind::Str,
                Kind::Comment,
                Kind::Newline,
                Kind::Ident,
                Kind::Punct(':'),
                Kind::Punct('='),
                Kind::Str,
            ]
        );
    }

    #[test]
    fn statements_split_at_newlines_and_semicolons_but_not_inside_brackets_or_after_operators() {
        let code = Code::new("p { a := [1,\n 2]; b\n c := 1 +\n 2 # x\n}");
        let open = 1;
        let close = code.closing(open).unwrap();
        let texts: Vec<String> =
            code.statements(open, close).into_iter().map(|(s, e)| code.span(s, e).to_string()).collect();
        assert_eq!(texts, ["a := [1,\n 2]", "b", "c := 1 +\n 2"]);
    }

    #[test]
    fn unterminated_input_never_panics() {
        for src in ["\"abc\\", "`abc", "é\"\\é", "#"] {
            let toks = tokenize(src);
            assert!(toks.iter().all(|t| src.get(t.start..t.end).is_some()));
        }
    }
}
