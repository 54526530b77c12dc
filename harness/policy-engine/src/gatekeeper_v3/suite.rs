//! `harness policy verify`: gator's Suite format (reference §1.10), read here; run by
//! [`verify`] (in `suite_cases.rs`).
//!
//! Reading rules, where gator leaves room:
//! * A file counts only when one of its YAML documents has `kind: Suite` and
//!   `apiVersion: test.gatekeeper.sh/v1alpha1`; other files are ignored.
//! * `violations` is `yes`, `no` (strings) or an integer ≥ 0; omitted means `yes`. serde_yaml reads
//!   YAML 1.2, so unquoted `yes`/`no` are strings, quoted or not (gator v3.23.1 reads them the same
//!   way). A YAML boolean (`true`/`false`) is a parse error, as in gator, rather than a guess.
//! * A case without assertions fails, as in gator.
//! * Unlike gator, which stops on any unparsable `.yaml` file, such a file is skipped unless it
//!   mentions `test.gatekeeper.sh`, so Helm-style files may sit next to suites.
//! * Any malformed field is a parse error naming the file and the field (`tests[0].cases[2].name`);
//!   files a suite refers to are read when its test runs, and problems with them fail that test or
//!   case (as in gator), absolute paths included.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::GatekeeperError;

pub use super::suite_cases::{CaseResult, CaseStatus, VerifyOptions, VerifyReport, verify};

pub const SUITE_KIND: &str = "Suite";
pub const SUITE_API_VERSION: &str = "test.gatekeeper.sh/v1alpha1";

/// One suite file.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub path: PathBuf,
    pub tests: Vec<SuiteTest>,
}

/// `tests[]`: one template, one constraint file, its cases.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteTest {
    pub name: String,
    /// Paths as written, relative to the suite file.
    pub template: String,
    pub constraint: String,
    pub cases: Vec<SuiteCase>,
    pub skip: bool,
    /// `expansion`, which this engine does not support (the test fails saying so).
    pub expansion: Option<String>,
}

/// `cases[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteCase {
    pub name: String,
    pub object: String,
    pub inventory: Vec<String>,
    pub assertions: Vec<Assertion>,
    pub skip: bool,
}

/// `assertions[]`: how many violations whose message matches `message` are expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub violations: Expected,
    /// A case-sensitive regex; `None` (or empty) counts every violation.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// At least one.
    Yes,
    /// None.
    No,
    Exactly(u64),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Yes => write!(f, "at least 1"),
            Expected::No => write!(f, "0"),
            Expected::Exactly(n) => write!(f, "exactly {n}"),
        }
    }
}

/// The files `paths` name, as gator walks them: `dir/...` recursively (`.yaml`/`.yml` files), a
/// directory without `...` only its own `.yaml`/`.yml` files, a file itself. Sorted within each path.
pub fn discover(paths: &[String]) -> Result<Vec<PathBuf>, GatekeeperError> {
    let mut files = Vec::new();
    for arg in paths {
        let (root, recursive) = match arg.strip_suffix("...") {
            Some(rest) => (if rest.is_empty() { "." } else { rest.trim_end_matches('/') }, true),
            None => (arg.as_str(), false),
        };
        let root = if root.is_empty() { Path::new("/") } else { Path::new(root) };
        let meta =
            std::fs::metadata(root).map_err(|error| GatekeeperError::Read { path: root.to_path_buf(), error })?;
        if meta.is_file() {
            files.push(root.to_path_buf());
            continue;
        }
        let mut found = Vec::new();
        walk(root, recursive, &mut found)?;
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), GatekeeperError> {
    let entries = std::fs::read_dir(dir).map_err(|error| GatekeeperError::Read { path: dir.to_path_buf(), error })?;
    for entry in entries {
        let path = entry.map_err(|error| GatekeeperError::Read { path: dir.to_path_buf(), error })?.path();
        if path.is_dir() {
            if recursive {
                walk(&path, true, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The suite in `path`, or `None` when the file is not a suite.
pub fn read_suite(path: &Path) -> Result<Option<Suite>, GatekeeperError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| GatekeeperError::Read { path: path.to_path_buf(), error })?;
    parse_suite(&text, path)
}

/// [`read_suite`] on text already read.
pub fn parse_suite(text: &str, path: &Path) -> Result<Option<Suite>, GatekeeperError> {
    let file = path.display().to_string();
    let docs = match crate::manifests::parse_documents(text) {
        Ok(docs) => docs,
        Err(_) if !text.contains(SUITE_API_VERSION.split('/').next().unwrap_or_default()) => return Ok(None),
        Err(e) => return Err(GatekeeperError::invalid(&file, "YAML", e)),
    };
    let Some(doc) = docs.into_iter().find(|d| {
        d.get("kind").and_then(Value::as_str) == Some(SUITE_KIND)
            && d.get("apiVersion").and_then(Value::as_str) == Some(SUITE_API_VERSION)
    }) else {
        return Ok(None);
    };
    let tests = match doc.get("tests") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| parse_test(t, &file, &format!("tests[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(GatekeeperError::invalid(&file, "tests", "a list of tests")),
    };
    Ok(Some(Suite { path: path.to_path_buf(), tests }))
}

fn string(v: &Value, key: &str, file: &str, at: &str, required: bool) -> Result<String, GatekeeperError> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(GatekeeperError::invalid(file, format!("{at}.{key}"), "a string (required)")),
        Some(other) => Err(GatekeeperError::invalid(file, format!("{at}.{key}"), format!("a string, found {other}"))),
    }
}

fn boolean(v: &Value, key: &str, file: &str, at: &str) -> Result<bool, GatekeeperError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => {
            Err(GatekeeperError::invalid(file, format!("{at}.{key}"), format!("true or false, found {other}")))
        }
    }
}

fn list<'a>(v: &'a Value, key: &str, file: &str, at: &str) -> Result<&'a [Value], GatekeeperError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(GatekeeperError::invalid(file, format!("{at}.{key}"), format!("a list, found {other}"))),
    }
}

fn parse_test(v: &Value, file: &str, at: &str) -> Result<SuiteTest, GatekeeperError> {
    if !v.is_object() {
        return Err(GatekeeperError::invalid(file, at, "a test object"));
    }
    let expansion = Some(string(v, "expansion", file, at, false)?).filter(|e| !e.is_empty());
    let cases = list(v, "cases", file, at)?
        .iter()
        .enumerate()
        .map(|(i, c)| parse_case(c, file, &format!("{at}.cases[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(SuiteTest {
        name: string(v, "name", file, at, false)?,
        template: string(v, "template", file, at, true)?,
        constraint: string(v, "constraint", file, at, true)?,
        cases,
        skip: boolean(v, "skip", file, at)?,
        expansion,
    })
}

fn parse_case(v: &Value, file: &str, at: &str) -> Result<SuiteCase, GatekeeperError> {
    if !v.is_object() {
        return Err(GatekeeperError::invalid(file, at, "a case object"));
    }
    let inventory = list(v, "inventory", file, at)?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.as_str()
                .map(str::to_string)
                .ok_or_else(|| GatekeeperError::invalid(file, format!("{at}.inventory[{i}]"), "a file path"))
        })
        .collect::<Result<_, _>>()?;
    let assertions = list(v, "assertions", file, at)?
        .iter()
        .enumerate()
        .map(|(i, a)| parse_assertion(a, file, &format!("{at}.assertions[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(SuiteCase {
        name: string(v, "name", file, at, false)?,
        object: string(v, "object", file, at, true)?,
        inventory,
        assertions,
        skip: boolean(v, "skip", file, at)?,
    })
}

fn parse_assertion(v: &Value, file: &str, at: &str) -> Result<Assertion, GatekeeperError> {
    if !v.is_object() {
        return Err(GatekeeperError::invalid(file, at, "an assertion object {violations, message}"));
    }
    let field = format!("{at}.violations");
    let violations = match v.get("violations") {
        None | Some(Value::Null) => Expected::Yes,
        Some(Value::String(s)) if s == "yes" => Expected::Yes,
        Some(Value::String(s)) if s == "no" => Expected::No,
        Some(Value::Number(n)) if n.as_u64().is_some() => Expected::Exactly(n.as_u64().unwrap_or_default()),
        Some(Value::Bool(b)) => {
            return Err(GatekeeperError::invalid(
                file,
                field,
                format!("'yes', 'no' or an integer, found the boolean {b} (write yes or no)"),
            ));
        }
        Some(other) => {
            return Err(GatekeeperError::invalid(
                file,
                field,
                format!("'yes', 'no' or an integer >= 0, found {other}"),
            ));
        }
    };
    let message = Some(string(v, "message", file, at, false)?).filter(|m| !m.is_empty());
    Ok(Assertion { violations, message })
}

/// A path from a suite, resolved against the suite's directory. Absolute paths are refused, as
/// gator refuses them.
pub fn resolve_path(suite: &Path, relative: &str) -> Result<PathBuf, String> {
    if relative.is_empty() {
        return Err("empty path".into());
    }
    if Path::new(relative).is_absolute() {
        return Err(format!("absolute path {relative} refused: paths are relative to the suite file"));
    }
    Ok(suite.parent().unwrap_or(Path::new(".")).join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Suite>, GatekeeperError> {
        parse_suite(text, Path::new("s/suite.yaml"))
    }

    const HEAD: &str = "kind: Suite\napiVersion: test.gatekeeper.sh/v1alpha1\n";

    #[test]
    fn violations_read_yes_no_integers_and_default_yes() {
        let text = format!(
            "{HEAD}tests:\n- name: t\n  template: t.yaml\n  constraint: c.yaml\n  cases:\n  - name: c\n    object: o.yaml\n    assertions:\n    - violations: yes\n    - violations: 'no'\n    - violations: 2\n      message: ^a\n    - message: b\n    - {{}}\n"
        );
        let suite = parse(&text).unwrap().unwrap();
        let got: Vec<_> =
            suite.tests[0].cases[0].assertions.iter().map(|a| (a.violations, a.message.clone())).collect();
        assert_eq!(
            got,
            vec![
                (Expected::Yes, None),
                (Expected::No, None),
                (Expected::Exactly(2), Some("^a".into())),
                (Expected::Yes, Some("b".into())),
                (Expected::Yes, None)
            ]
        );
    }

    #[test]
    fn booleans_negative_numbers_and_other_strings_are_refused() {
        for bad in ["true", "-1", "maybe", "1.5"] {
            let text = format!(
                "{HEAD}tests:\n- template: t\n  constraint: c\n  cases:\n  - object: o\n    assertions:\n    - violations: {bad}\n"
            );
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with("s/suite.yaml: tests[0].cases[0].assertions[0].violations:"), "{bad}: {err}");
        }
    }

    #[test]
    fn other_files_are_not_suites() {
        assert_eq!(parse("kind: Pod\napiVersion: v1\n").unwrap(), None);
        assert_eq!(parse("kind: Suite\napiVersion: other/v1\n").unwrap(), None);
        assert_eq!(parse("excludedNamespaces: {{ .Values.excludedNamespaces }}\n").unwrap(), None);
        let err = parse("apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Suite\ntests: [\n").unwrap_err().to_string();
        assert!(err.starts_with("s/suite.yaml: YAML:"), "{err}");
    }

    #[test]
    fn missing_required_fields_name_the_field() {
        let err = parse(&format!("{HEAD}tests:\n- name: t\n  constraint: c\n")).unwrap_err().to_string();
        assert_eq!(err, "s/suite.yaml: tests[0].template: a string (required)");
        let err = parse(&format!("{HEAD}tests:\n- template: t\n  constraint: c\n  cases:\n  - name: x\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "s/suite.yaml: tests[0].cases[0].object: a string (required)");
    }

    #[test]
    fn paths_are_relative_to_the_suite() {
        assert_eq!(
            resolve_path(Path::new("a/b/suite.yaml"), "samples/x.yaml").unwrap(),
            PathBuf::from("a/b/samples/x.yaml")
        );
        assert!(resolve_path(Path::new("a/suite.yaml"), "/etc/passwd").unwrap_err().contains("absolute path"));
    }
}
