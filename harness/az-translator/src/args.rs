//! Command-line parsing: shell-like splitting of the pasted line, and a small argparse-like
//! option parser driven by a static table per command, so every command rejects unknown flags and
//! reports missing ones with the same wording the real CLI (knack/argparse) used.

use std::collections::BTreeMap;

use super::error::{AzError, AzResult};

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--name X`.
    Value,
    /// `--wait` (no value).
    Flag,
    /// `--not-scopes A B C`: every following token up to the next option (argparse `nargs='+'`).
    Many,
}

/// One option of a command: its names (long first), kind and whether it is required.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub names: &'static [&'static str],
    pub kind: Kind,
    pub required: bool,
}

/// Shorthands for building option tables.
pub const fn val(names: &'static [&'static str]) -> Opt {
    Opt { names, kind: Kind::Value, required: false }
}
pub const fn req(names: &'static [&'static str]) -> Opt {
    Opt { names, kind: Kind::Value, required: true }
}
pub const fn flag(names: &'static [&'static str]) -> Opt {
    Opt { names, kind: Kind::Flag, required: false }
}
pub const fn many(names: &'static [&'static str]) -> Opt {
    Opt { names, kind: Kind::Many, required: false }
}

/// Options every command accepts (knack's global arguments).
pub const GLOBAL: &[Opt] = &[
    val(&["--output", "-o"]),
    val(&["--query"]),
    val(&["--subscription"]),
    flag(&["--debug"]),
    flag(&["--verbose"]),
    flag(&["--only-show-errors"]),
];

/// Parsed options, keyed by each option's first (canonical) name.
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Args {
    /// The value of a `Value` option.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// The value of a required option (the parser already checked it is present).
    pub fn must(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// Whether a flag (or any option) was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// All values of a `Many` option.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

/// Splits a pasted command line like a POSIX shell would (quotes, backslashes).
pub fn split_line(line: &str) -> AzResult<Vec<String>> {
    shlex::split(line.trim())
        .ok_or_else(|| AzError::cli(format!("cannot parse the command line (unbalanced quotes?): {line}")))
}

fn display(opt: &Opt) -> String {
    opt.names.join("/")
}

/// Parses `tokens` (everything after the command words) against `opts` plus [`GLOBAL`].
pub fn parse(command: &str, opts: &[Opt], tokens: &[String]) -> AzResult<Args> {
    let all: Vec<&Opt> = opts.iter().chain(GLOBAL.iter()).collect();
    let mut args = Args::default();
    let mut unrecognized = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        i += 1;
        let (name, inline) = match token.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (token.as_str(), None),
        };
        let Some(opt) = all.iter().find(|o| o.names.contains(&name)) else {
            unrecognized.push(token.clone());
            continue;
        };
        let key = opt.names[0];
        let entry = args.values.entry(key).or_default();
        match (opt.kind, inline) {
            (Kind::Flag, None) => {}
            (Kind::Flag, Some(_)) => {
                return Err(AzError::usage(command, format!("argument {}: ignored explicit argument", display(opt))));
            }
            (_, Some(v)) => entry.push(v),
            (Kind::Value, None) => match tokens.get(i) {
                Some(v) if !is_option(v) => {
                    entry.push(v.clone());
                    i += 1;
                }
                _ => return Err(AzError::usage(command, format!("argument {}: expected one argument", display(opt)))),
            },
            (Kind::Many, None) => {
                let start = i;
                while tokens.get(i).is_some_and(|v| !is_option(v)) {
                    entry.push(tokens[i].clone());
                    i += 1;
                }
                if i == start {
                    return Err(AzError::usage(
                        command,
                        format!("argument {}: expected at least one argument", display(opt)),
                    ));
                }
            }
        }
    }
    if !unrecognized.is_empty() {
        return Err(AzError::usage(command, format!("unrecognized arguments: {}", unrecognized.join(" "))));
    }
    let missing: Vec<String> = opts.iter().filter(|o| o.required && !args.has(o.names[0])).map(display).collect();
    if !missing.is_empty() {
        return Err(AzError::usage(command, format!("the following arguments are required: {}", missing.join(", "))));
    }
    Ok(args)
}

/// An option name (not a value such as `-1` or a bare `-`).
fn is_option(token: &str) -> bool {
    token.starts_with('-') && token.len() > 1 && !token[1..].starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[req(&["--name", "-n"]), flag(&["--wait"]), many(&["--not-scopes"])];

    fn toks(s: &str) -> Vec<String> {
        split_line(s).unwrap()
    }

    #[test]
    fn parses_values_flags_and_lists() {
        let a = parse("x", OPTS, &toks("-n foo --wait --not-scopes /a /b -o tsv --query=name")).unwrap();
        assert_eq!(a.get("--name"), Some("foo"));
        assert!(a.has("--wait"));
        assert_eq!(a.list("--not-scopes"), vec!["/a", "/b"]);
        assert_eq!(a.get("--output"), Some("tsv"));
        assert_eq!(a.get("--query"), Some("name"));
    }

    #[test]
    fn rejects_unknown_and_missing() {
        let e = parse("x y", OPTS, &toks("-n a --bogus 1")).unwrap_err();
        assert_eq!(e.stderr(), "az x y: error: unrecognized arguments: --bogus 1");
        let e = parse("x y", OPTS, &toks("--wait")).unwrap_err();
        assert_eq!(e.stderr(), "az x y: error: the following arguments are required: --name/-n");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn splits_quotes_like_a_shell() {
        assert_eq!(
            toks(r#"az a --query "[?x=='a b']" -p '{"k": 1}'"#),
            vec!["az", "a", "--query", "[?x=='a b']", "-p", r#"{"k": 1}"#]
        );
    }
}
