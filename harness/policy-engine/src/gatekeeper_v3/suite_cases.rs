//! Running suites: [`verify`] and its report. Each template file is compiled once per run and the
//! compiled client is cloned per test (for its constraint) and per case that has inventory, so a
//! suite of many cases pays one compilation.
//!
//! Counting: `tests` and `cases` count what `--run` selected, skipped ones included; a case is
//! passed, failed or skipped, so `cases = passed + failed + skipped`. A test that cannot run (its
//! template does not compile, its constraint does not fit) fails each of its selected, unskipped
//! cases (at least one), and is reported once.
//!
//! `--run REGEX` selects tests whose name matches, and in other tests the cases whose name matches;
//! `TEST//CASE` selects cases matching CASE within tests matching TEST.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

use super::suite::{Assertion, Expected, Suite, SuiteCase, SuiteTest, discover, read_suite, resolve_path};
use super::{Constraint, ConstraintTemplate, GatekeeperError, PolicyClient, Review, Violation, enforcement_point};

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// `--run`: see the module docs.
    pub run: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaseStatus {
    Passed,
    Skipped,
    /// Why, with the expected and actual counts and the violation messages.
    Failed(String),
}

/// One line of the report: a case, or a whole test (`case: None`) that could not run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub suite: PathBuf,
    pub test: String,
    pub case: Option<String>,
    pub status: CaseStatus,
}

impl CaseResult {
    fn line(&self) -> String {
        let tag = match &self.status {
            CaseStatus::Passed => "ok  ",
            CaseStatus::Skipped => "SKIP",
            CaseStatus::Failed(_) => "FAIL",
        };
        let what = match &self.case {
            Some(case) => format!("{}/{}", self.test, case),
            None => self.test.clone(),
        };
        match &self.status {
            CaseStatus::Failed(why) => format!("{tag} {}: {what}: {why}", self.suite.display()),
            _ => format!("{tag} {}: {what}", self.suite.display()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    pub suites: usize,
    pub tests: usize,
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub results: Vec<CaseResult>,
}

impl VerifyReport {
    /// The report's lines: failures only, or every case and test error when `verbose`.
    pub fn lines(&self, verbose: bool) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| verbose || matches!(r.status, CaseStatus::Failed(_)))
            .map(CaseResult::line)
            .collect()
    }

    /// `verify: suites=N tests=N cases=N passed=N failed=N skipped=N` (the last line printed).
    pub fn summary_line(&self) -> String {
        format!(
            "verify: suites={} tests={} cases={} passed={} failed={} skipped={}",
            self.suites, self.tests, self.cases, self.passed, self.failed, self.skipped
        )
    }

    pub fn success(&self) -> bool {
        self.failed == 0
    }
}

struct Filter {
    test: Option<Regex>,
    case: Option<Regex>,
    /// Without `//`: one regex for test names, else case names.
    either: bool,
}

impl Filter {
    fn new(run: Option<&str>) -> Result<Filter, GatekeeperError> {
        let compile =
            |r: &str| Regex::new(r).map_err(|e| GatekeeperError::invalid("--run", r, format!("a regex: {e}")));
        match run {
            None | Some("") => Ok(Filter { test: None, case: None, either: false }),
            Some(run) => match run.split_once("//") {
                Some((t, c)) => Ok(Filter {
                    test: Some(t).filter(|t| !t.is_empty()).map(compile).transpose()?,
                    case: Some(c).filter(|c| !c.is_empty()).map(compile).transpose()?,
                    either: false,
                }),
                None => Ok(Filter { test: Some(compile(run)?), case: None, either: true }),
            },
        }
    }

    /// The cases of `test` to run, or `None` when the test is not selected at all.
    fn select<'a>(&self, test: &'a SuiteTest) -> Option<Vec<&'a SuiteCase>> {
        let all = || test.cases.iter().collect::<Vec<_>>();
        let test_hit = self.test.as_ref().is_none_or(|r| r.is_match(&test.name));
        if self.either {
            if test_hit {
                return Some(all());
            }
            let re = self.test.as_ref()?;
            let cases: Vec<_> = test.cases.iter().filter(|c| re.is_match(&c.name)).collect();
            return (!cases.is_empty()).then_some(cases);
        }
        if !test_hit {
            return None;
        }
        match &self.case {
            None => Some(all()),
            Some(re) => {
                Some(test.cases.iter().filter(|c| re.is_match(&c.name)).collect::<Vec<_>>()).filter(|c| !c.is_empty())
            }
        }
    }
}

/// Run every suite under `paths` (see [`discover`]). Errors are usage or parse errors (exit 2 in
/// the CLI); test and case failures are in the report.
pub fn verify(paths: &[String], options: &VerifyOptions) -> Result<VerifyReport, GatekeeperError> {
    let filter = Filter::new(options.run.as_deref())?;
    let mut suites = Vec::new();
    for file in discover(paths)? {
        if let Some(suite) = read_suite(&file)? {
            suites.push(suite);
        }
    }
    let mut report = VerifyReport { suites: suites.len(), ..VerifyReport::default() };
    let mut compiled = TemplateCache::default();
    for suite in &suites {
        run_suite(suite, &filter, &mut compiled, &mut report);
    }
    Ok(report)
}

/// Clients holding one compiled template, by template file.
#[derive(Default)]
struct TemplateCache(HashMap<PathBuf, Result<(PolicyClient, String), String>>);

impl TemplateCache {
    /// A client with the template compiled, and the template kind.
    fn get(&mut self, path: &Path) -> Result<(PolicyClient, String), String> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.0
            .entry(key)
            .or_insert_with(|| {
                let template = ConstraintTemplate::from_file(path).map_err(|e| e.to_string())?;
                let kind = template.kind.clone();
                let mut client = PolicyClient::new();
                client.add_template(template).map_err(|e| e.to_string())?;
                Ok((client, kind))
            })
            .clone()
    }
}

fn run_suite(suite: &Suite, filter: &Filter, compiled: &mut TemplateCache, report: &mut VerifyReport) {
    for test in &suite.tests {
        let Some(cases) = filter.select(test) else { continue };
        report.tests += 1;
        report.cases += cases.len();
        let result = |case: Option<&str>, status| CaseResult {
            suite: suite.path.clone(),
            test: test.name.clone(),
            case: case.map(str::to_string),
            status,
        };
        if test.skip {
            report.skipped += cases.len();
            report.results.extend(cases.iter().map(|c| result(Some(&c.name), CaseStatus::Skipped)));
            continue;
        }
        let client = match prepare_test(suite, test, compiled) {
            Ok(client) => client,
            Err(why) => {
                let runnable = cases.iter().filter(|c| !c.skip).count();
                report.skipped += cases.len() - runnable;
                report.failed += runnable.max(1);
                report.results.push(result(None, CaseStatus::Failed(why)));
                continue;
            }
        };
        for case in cases {
            let status = if case.skip { CaseStatus::Skipped } else { run_case(&suite.path, &client, case) };
            match status {
                CaseStatus::Passed => report.passed += 1,
                CaseStatus::Skipped => report.skipped += 1,
                CaseStatus::Failed(_) => report.failed += 1,
            }
            report.results.push(result(Some(&case.name), status));
        }
    }
}

/// The client of one test: its template (compiled once per file) and its constraints.
fn prepare_test(suite: &Suite, test: &SuiteTest, compiled: &mut TemplateCache) -> Result<PolicyClient, String> {
    if let Some(expansion) = &test.expansion {
        return Err(format!("expansion ({expansion}) is not supported by this engine"));
    }
    let template_path = resolve_path(&suite.path, &test.template).map_err(|e| format!("template: {e}"))?;
    let (mut client, kind) = compiled.get(&template_path)?;
    let constraint_path = resolve_path(&suite.path, &test.constraint).map_err(|e| format!("constraint: {e}"))?;
    let constraints = Constraint::from_file(&constraint_path).map_err(|e| e.to_string())?;
    if constraints.is_empty() {
        return Err(format!("{}: no constraint in the file", constraint_path.display()));
    }
    for constraint in constraints {
        if constraint.kind != kind {
            return Err(format!(
                "{}: constraint {} has kind {}, but the template defines {kind}",
                constraint_path.display(),
                constraint.name,
                constraint.kind
            ));
        }
        client.add_constraint(constraint).map_err(|e| e.to_string())?;
    }
    Ok(client)
}

fn documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::manifests::parse_documents(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn run_case(suite: &Path, client: &PolicyClient, case: &SuiteCase) -> CaseStatus {
    if case.assertions.is_empty() {
        // As in gator: a case that asserts nothing is a mistake, not a pass.
        return CaseStatus::Failed("the case has no assertions (at least one is required)".into());
    }
    match evaluate_case(suite, client, case) {
        Ok(violations) => match failed_assertions(&case.assertions, &violations) {
            None => CaseStatus::Passed,
            Some(why) => CaseStatus::Failed(why),
        },
        Err(why) => CaseStatus::Failed(why),
    }
}

fn evaluate_case(suite: &Path, client: &PolicyClient, case: &SuiteCase) -> Result<Vec<Violation>, String> {
    let object_path = resolve_path(suite, &case.object).map_err(|e| format!("object: {e}"))?;
    let mut objects = documents(&object_path)?;
    if objects.len() != 1 {
        return Err(format!("{}: expected exactly one object, found {}", object_path.display(), objects.len()));
    }
    let source = object_path.display().to_string();
    let review = Review::from_any(objects.remove(0), &source).map_err(|e| e.to_string())?;
    // Only a case with inventory pays for a copy of the client.
    let with_inventory;
    let client = if case.inventory.is_empty() {
        client
    } else {
        let mut copy = client.clone();
        for file in &case.inventory {
            let path = resolve_path(suite, file).map_err(|e| format!("inventory: {e}"))?;
            for object in documents(&path)? {
                copy.inventory_mut().upsert(object, &path.display().to_string()).map_err(|e| e.to_string())?;
            }
        }
        with_inventory = copy;
        &with_inventory
    };
    client.review(&review, enforcement_point::GATOR).map_err(|e| e.to_string())
}

/// `None` when every assertion holds, else why the first ones do not (all failing ones listed).
fn failed_assertions(assertions: &[Assertion], violations: &[Violation]) -> Option<String> {
    let mut failures = Vec::new();
    for (i, assertion) in assertions.iter().enumerate() {
        let regex = match assertion.message.as_deref().map(Regex::new).transpose() {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("assertion {i}: invalid message regex: {e}"));
                continue;
            }
        };
        let got = violations.iter().filter(|v| regex.as_ref().is_none_or(|r| r.is_match(&v.msg))).count();
        let holds = match assertion.violations {
            Expected::Yes => got >= 1,
            Expected::No => got == 0,
            Expected::Exactly(n) => got as u64 == n,
        };
        if !holds {
            let filter = assertion.message.as_deref().map(|m| format!(" matching /{m}/")).unwrap_or_default();
            failures.push(format!("assertion {i}: expected {} violation(s){filter}, got {got}", assertion.violations));
        }
    }
    if failures.is_empty() {
        return None;
    }
    let messages: Vec<String> = violations.iter().map(|v| format!("{:?}", v.msg)).collect();
    Some(format!("{}; messages: [{}]", failures.join("; "), messages.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatekeeper_v3::ObjectRef;

    fn violation(msg: &str) -> Violation {
        Violation {
            constraint: "c".into(),
            kind: "K".into(),
            enforcement_action: "deny".into(),
            msg: msg.into(),
            details: serde_json::json!({}),
            resource: ObjectRef::default(),
        }
    }

    fn assertion(violations: Expected, message: Option<&str>) -> Assertion {
        Assertion { violations, message: message.map(str::to_string) }
    }

    #[test]
    fn assertions_count_matching_messages_case_sensitively() {
        let vs = [violation("Container app is privileged"), violation("container sidecar is privileged")];
        assert_eq!(failed_assertions(&[assertion(Expected::Exactly(2), None)], &vs), None);
        assert_eq!(failed_assertions(&[assertion(Expected::Exactly(1), Some("^Container"))], &vs), None);
        assert_eq!(failed_assertions(&[assertion(Expected::No, Some("CONTAINER"))], &vs), None);
        assert_eq!(failed_assertions(&[assertion(Expected::Yes, Some("sidecar"))], &vs), None);
        let why = failed_assertions(&[assertion(Expected::No, Some("app"))], &vs).unwrap();
        assert!(
            why.starts_with("assertion 0: expected 0 violation(s) matching /app/, got 1; messages: [\"Container app"),
            "{why}"
        );
        assert!(failed_assertions(&[assertion(Expected::Yes, None)], &[]).unwrap().contains("expected at least 1"));
        assert!(
            failed_assertions(&[assertion(Expected::Yes, Some("("))], &vs).unwrap().contains("invalid message regex")
        );
    }

    fn test_named(name: &str, cases: &[&str]) -> SuiteTest {
        SuiteTest {
            name: name.into(),
            template: "t".into(),
            constraint: "c".into(),
            cases: cases
                .iter()
                .map(|c| SuiteCase {
                    name: c.to_string(),
                    object: "o".into(),
                    inventory: vec![],
                    assertions: vec![],
                    skip: false,
                })
                .collect(),
            skip: false,
            expansion: None,
        }
    }

    fn selected(run: &str, test: &SuiteTest) -> Option<Vec<String>> {
        Filter::new(Some(run)).unwrap().select(test).map(|cs| cs.into_iter().map(|c| c.name.clone()).collect())
    }

    #[test]
    fn run_filters_tests_then_cases() {
        let t = test_named("no-privilege", &["allowed-a", "disallowed-b"]);
        assert_eq!(selected("privilege", &t).unwrap().len(), 2);
        assert_eq!(selected("^disallowed", &t), Some(vec!["disallowed-b".to_string()]));
        assert_eq!(selected("nothing", &t), None);
        assert_eq!(selected("no-priv//allowed", &t), Some(vec!["allowed-a".to_string(), "disallowed-b".to_string()]));
        assert_eq!(selected("no-priv//^allowed", &t), Some(vec!["allowed-a".to_string()]));
        assert_eq!(selected("other//allowed", &t), None);
        assert!(Filter::new(Some("(")).is_err());
    }
}
