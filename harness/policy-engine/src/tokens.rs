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
                Kind::Ident, Kind::Punct(':'), Kind::Punct('='), Kind::Str, Kind::Comment, Kind::Newline,
                Kind::Ident, Kind::Punct(':'), Kind::Punct('='), Kind::Str,
            ]
        );
    }

    #[test]
    fn unterminated_input_never_panics() {
        for src in ["\"abc\\", "`abc", "é\"\\é", "#"] {
            let toks = tokenize(src);
            assert!(toks.iter().all(|t| src.get(t.start..t.end).is_some()));
        }
    }
}
