//! Load-time normalisation of 2019-era (OPA 0.10) Rego so regorus evaluates it as OPA did.
//!
//! OPA accepted builtin calls in **output-argument form**: `split(s, ",", parts)` unifies the last
//! argument with the result. regorus accepts the syntax but in some patterns silently returns no
//! results (the labels policy never denies) or reports "var … used before definition". Rewriting every
//! such call into `parts = split(s, ",")` restores OPA's results. The rewrite is general: any builtin
//! called, as a whole body statement, with one argument more than its arity.
//!
//! Unification (`=`) is used rather than `:=` because that is exactly what the output argument meant:
//! if `parts` is already bound, OPA compared instead of binding, and `=` keeps that; `:=` would be a
//! compile error ("var assigned above").
//!
//! The rewrite works on tokens, so text inside strings and comments is never touched, and it keeps
//! every line break, so compile errors still point at the author's line numbers.

use crate::rego::tokens::{Kind, Token, tokenize};

/// Number of arguments of OPA builtins (and of the `re_match` extension). A call with one more
/// argument than listed here is in output-argument form.
pub fn builtin_arity(name: &str) -> Option<usize> {
    const ARITIES: &[(&str, usize)] = &[
        ("abs", 1),
        ("all", 1),
        ("and", 2),
        ("any", 1),
        ("array.concat", 2),
        ("array.reverse", 1),
        ("array.slice", 3),
        ("base64.decode", 1),
        ("base64.encode", 1),
        ("base64.is_valid", 1),
        ("base64url.decode", 1),
        ("base64url.encode", 1),
        ("base64url.encode_no_pad", 1),
        ("cast_array", 1),
        ("cast_boolean", 1),
        ("cast_null", 1),
        ("cast_object", 1),
        ("cast_set", 1),
        ("cast_string", 1),
        ("ceil", 1),
        ("concat", 2),
        ("contains", 2),
        ("count", 1),
        ("crypto.md5", 1),
        ("crypto.sha1", 1),
        ("crypto.sha256", 1),
        ("div", 2),
        ("endswith", 2),
        ("floor", 1),
        ("format_int", 2),
        ("glob.match", 3),
        ("glob.quote_meta", 1),
        ("graph.reachable", 2),
        ("hex.decode", 1),
        ("hex.encode", 1),
        ("http.send", 1),
        ("indexof", 2),
        ("intersection", 1),
        ("is_array", 1),
        ("is_boolean", 1),
        ("is_null", 1),
        ("is_number", 1),
        ("is_object", 1),
        ("is_set", 1),
        ("is_string", 1),
        ("json.filter", 2),
        ("json.is_valid", 1),
        ("json.marshal", 1),
        ("json.patch", 2),
        ("json.remove", 2),
        ("json.unmarshal", 1),
        ("lower", 1),
        ("max", 1),
        ("min", 1),
        ("minus", 2),
        ("mul", 2),
        ("net.cidr_contains", 2),
        ("net.cidr_expand", 1),
        ("net.cidr_intersects", 2),
        ("numbers.range", 2),
        ("object.filter", 2),
        ("object.get", 3),
        ("object.keys", 1),
        ("object.remove", 2),
        ("object.union", 2),
        ("opa.runtime", 0),
        ("or", 2),
        ("plus", 2),
        ("product", 1),
        ("rand.intn", 2),
        ("re_match", 2),
        ("regex.find_all_string_submatch_n", 3),
        ("regex.find_n", 3),
        ("regex.globs_match", 2),
        ("regex.is_valid", 1),
        ("regex.match", 2),
        ("regex.replace", 3),
        ("regex.split", 2),
        ("regex.template_match", 4),
        ("rem", 2),
        ("replace", 3),
        ("round", 1),
        ("semver.compare", 2),
        ("semver.is_valid", 1),
        ("sort", 1),
        ("split", 2),
        ("sprintf", 2),
        ("startswith", 2),
        ("strings.any_prefix_match", 2),
        ("strings.any_suffix_match", 2),
        ("strings.replace_n", 2),
        ("strings.reverse", 1),
        ("substring", 3),
        ("sum", 1),
        ("time.add_date", 4),
        ("time.clock", 1),
        ("time.date", 1),
        ("time.diff", 2),
        ("time.now_ns", 0),
        ("time.parse_duration_ns", 1),
        ("time.parse_ns", 2),
        ("time.parse_rfc3339_ns", 1),
        ("time.weekday", 1),
        ("to_number", 1),
        ("trace", 1),
        ("trim", 2),
        ("trim_left", 2),
        ("trim_prefix", 2),
        ("trim_right", 2),
        ("trim_space", 1),
        ("trim_suffix", 2),
        ("type_name", 1),
        ("union", 1),
        ("units.parse", 1),
        ("units.parse_bytes", 1),
        ("upper", 1),
        ("urlquery.decode", 1),
        ("urlquery.encode", 1),
        ("urlquery.encode_object", 1),
        ("uuid.rfc4122", 1),
        ("walk", 1),
        ("yaml.marshal", 1),
        ("yaml.unmarshal", 1),
    ];
    ARITIES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// Rewrite every statement-level builtin call in output-argument form into `out = f(args…)`.
/// Everything else is returned unchanged.
pub fn normalize(src: &str) -> String {
    let tokens = tokenize(src);
    let mut out = String::with_capacity(src.len() + 16);
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        if let Some(call) = output_arg_call(src, &tokens, i) {
            out.push_str(&src[copied..tokens[i].start]);
            out.push_str(&call.rewritten);
            copied = call.end;
            i = call.next_token;
        } else {
            i += 1;
        }
    }
    out.push_str(&src[copied..]);
    out
}

struct Rewrite {
    rewritten: String,
    /// Byte offset just past the original call.
    end: usize,
    next_token: usize,
}

/// Is `tokens[i]` the start of a body statement `name(a, …, out)` with one argument too many?
fn output_arg_call(src: &str, tokens: &[Token], i: usize) -> Option<Rewrite> {
    if tokens[i].kind != Kind::Ident || !starts_statement(tokens, i) {
        return None;
    }
    // A dotted builtin name: ident ('.' ident)*, written without spaces.
    let mut j = i + 1;
    while j + 1 < tokens.len()
        && tokens[j].kind == Kind::Punct('.')
        && tokens[j + 1].kind == Kind::Ident
        && tokens[j].start == tokens[j - 1].end
        && tokens[j + 1].start == tokens[j].end
    {
        j += 2;
    }
    let name = &src[tokens[i].start..tokens[j - 1].end];
    let arity = builtin_arity(name)?;
    if tokens.get(j)?.kind != Kind::Punct('(') {
        return None;
    }
    let (commas, close) = top_level_commas(tokens, j)?;
    if commas.len() != arity || !ends_statement(tokens, close) {
        return None;
    }
    let last_comma = *commas.last()?;
    let output = src[tokens[last_comma].end..tokens[close].start].trim();
    if output.is_empty() || output.contains('\n') {
        return None;
    }
    let args = &src[tokens[j].end..tokens[last_comma].start];
    let dropped = &src[tokens[last_comma].start..tokens[close].end];
    let newlines = "\n".repeat(dropped.matches('\n').count());
    Some(Rewrite {
        rewritten: format!("{output} = {name}({args}){newlines}"),
        end: tokens[close].end,
        next_token: close + 1,
    })
}

/// Positions of the top-level commas inside the parenthesis opened at `open`, and of the matching `)`.
fn top_level_commas(tokens: &[Token], open: usize) -> Option<(Vec<usize>, usize)> {
    let mut depth = 0usize;
    let mut commas = Vec::new();
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            Kind::Punct('(' | '[' | '{') => depth += 1,
            Kind::Punct(')' | ']' | '}') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (t.kind == Kind::Punct(')')).then_some((commas, k));
                }
            }
            Kind::Punct(',') if depth == 1 => commas.push(k),
            _ => {}
        }
    }
    None
}

/// The previous significant token is a statement boundary: start of input, newline, `;` or `{`.
fn starts_statement(tokens: &[Token], i: usize) -> bool {
    tokens[..i]
        .iter()
        .rev()
        .find(|t| t.kind != Kind::Comment)
        .is_none_or(|t| matches!(t.kind, Kind::Newline | Kind::Punct(';' | '{')))
}

/// The next significant token after `close` ends the statement: newline, `;`, `}` or end of input.
/// (A rule head such as `f(x) {` is followed by `{` and so is never rewritten.)
fn ends_statement(tokens: &[Token], close: usize) -> bool {
    tokens[close + 1..]
        .iter()
        .find(|t| t.kind != Kind::Comment)
        .is_none_or(|t| matches!(t.kind, Kind::Newline | Kind::Punct(';' | '}')))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn rewrites_output_argument_calls() {
        let cases: &[(&str, &str)] = &[
            ("split(s, \",\", out)", "out = split(s, \",\")"),
            ("  format_int(p.port, 10, port_str)\n", "  port_str = format_int(p.port, 10)\n"),
            ("x { sprintf(\"%v\", [a], msg) }", "x { msg = sprintf(\"%v\", [a]) }"),
            ("a; count(xs, n); b", "a; n = count(xs); b"),
            ("regex.split(\"[,]\", s, parts)", "parts = regex.split(\"[,]\", s)"),
            ("walk(input, [path, value])", "[path, value] = walk(input)"),
            ("re_match(p, v, matched)", "matched = re_match(p, v)"),
            // Nested brackets and commas inside arguments stay intact.
            ("split(concat(\",\", [a, b]), \",\", out) # tail", "out = split(concat(\",\", [a, b]), \",\") # tail"),
            // Multi-line calls keep their line count.
            ("split(s,\n  \",\",\n  out)\nnext", "split_placeholder"),
        ];
        for (input, expected) in cases {
            let got = normalize(input);
            if *expected == "split_placeholder" {
                assert_eq!(got, "out = split(s,\n  \",\")\n\nnext");
                assert_eq!(got.lines().count(), input.lines().count());
            } else {
                assert_eq!(&got, expected, "input: {input}");
            }
        }
    }

    #[test]
    fn leaves_everything_else_alone() {
        let untouched = [
            "out := split(s, \",\")",            // already assignment form
            "split(s, \",\")",                   // plain call (arity matches)
            "x := \"split(s, \\\",\\\", out)\"", // inside a string
            "# split(s, \",\", out)",            // inside a comment
            "x := `format_int(n, 10, out)`",     // inside a raw string
            "split(a, b, c) { true }",           // a user rule head
            "not split(s, \",\", out)",          // not a statement start
            "my_func(a, b, c)",                  // unknown function
            "f(split(s, \",\", out))",           // nested, not a statement
            "split(s, \",\", out, extra)",       // two too many: left for the parser
            "split(s, \",\",",                   // unterminated
        ];
        for src in untouched {
            assert_eq!(normalize(src), src, "input: {src}");
        }
    }
}
