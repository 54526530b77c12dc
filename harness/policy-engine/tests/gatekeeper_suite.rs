//! `harness policy verify` through its library API: our fixture suites (passing, failing, broken),
//! and the policy library's template folders, which must all pass.

use std::path::PathBuf;

use policy_engine::gatekeeper_v3::GatekeeperError;
use policy_engine::gatekeeper_v3::suite::{CaseStatus, VerifyOptions, VerifyReport, verify};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gatekeeper/suites")
}

fn run(path: &str, run: Option<&str>) -> Result<VerifyReport, GatekeeperError> {
    let arg = format!("{}/{path}", fixtures().display());
    verify(&[arg], &VerifyOptions { run: run.map(str::to_string) })
}

fn failures(report: &VerifyReport) -> Vec<(String, Option<String>, String)> {
    report
        .results
        .iter()
        .filter_map(|r| match &r.status {
            CaseStatus::Failed(why) => Some((r.test.clone(), r.case.clone(), why.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn passing_suites_recurse_skip_and_ignore_other_yaml() {
    let report = run("passing/...", None).unwrap();
    assert_eq!(failures(&report), vec![], "{:#?}", report.lines(true));
    // labels (2 tests, one skipped), inventory, nested/deeper; not-a-suite.yaml and the Helm-style
    // file are ignored.
    assert_eq!(report.summary_line(), "verify: suites=3 tests=4 cases=8 passed=6 failed=0 skipped=2");
    assert!(report.success());
    assert_eq!(report.lines(false), Vec::<String>::new());
    let verbose = report.lines(true);
    assert_eq!(verbose.len(), 8);
    assert!(
        verbose.iter().any(|l| l.starts_with("SKIP ") && l.ends_with("labels/suite.yaml: labels/skipped-case")),
        "{verbose:#?}"
    );
    assert!(
        verbose
            .iter()
            .any(|l| l.starts_with("ok   ")
                && l.ends_with("inventory/suite.yaml: known-namespace/namespace-in-inventory"))
    );
}

#[test]
fn a_directory_without_dots_does_not_recurse() {
    let report = run("passing", None).unwrap();
    assert_eq!(report.suites, 0);
    let report = run("passing/labels", None).unwrap();
    assert_eq!(report.summary_line(), "verify: suites=1 tests=2 cases=5 passed=3 failed=0 skipped=2");
    let report = run("passing/labels/suite.yaml", None).unwrap();
    assert_eq!(report.suites, 1);
}

#[test]
fn run_selects_tests_and_cases() {
    let report = run("passing/...", Some("unlabelled")).unwrap();
    assert_eq!(report.summary_line(), "verify: suites=3 tests=2 cases=2 passed=2 failed=0 skipped=0");
    let report = run("passing/...", Some("^known-namespace$")).unwrap();
    assert_eq!(report.summary_line(), "verify: suites=3 tests=1 cases=2 passed=2 failed=0 skipped=0");
    let report = run("passing/...", Some("labels//admission")).unwrap();
    assert_eq!(report.summary_line(), "verify: suites=3 tests=1 cases=1 passed=1 failed=0 skipped=0");
    assert!(run("passing/...", Some("(")).is_err());
}

#[test]
fn failures_say_where_and_why() {
    let report = run("failing/...", None).unwrap();
    assert_eq!(report.summary_line(), "verify: suites=1 tests=3 cases=8 passed=1 failed=7 skipped=0");
    assert!(!report.success());
    let f = failures(&report);
    let why = |test: &str, case: Option<&str>| {
        f.iter().find(|(t, c, _)| t == test && c.as_deref() == case).map(|(_, _, w)| w.clone()).unwrap_or_default()
    };
    let none = why("wrong-expectations", Some("expects-none"));
    assert!(none.starts_with("assertion 0: expected 0 violation(s), got 2; messages: ["), "{none}");
    assert!(none.contains("Missing label team on bare") && none.contains("Missing label tier on bare"), "{none}");
    assert!(
        why("wrong-expectations", Some("expects-three"))
            .starts_with("assertion 0: expected exactly 3 violation(s), got 2")
    );
    assert!(why("wrong-expectations", Some("missing-object")).contains("cannot read"));
    assert!(why("wrong-expectations", Some("no-assertions")).contains("no assertions"));
    let mismatch = why("kind-mismatch", None);
    assert!(mismatch.contains("has kind K8sTestKnownNamespace, but the template defines K8sTestLabels"), "{mismatch}");
    assert!(!why("template-does-not-compile", None).is_empty());
    // One line per failure, naming the suite file, the test and the case.
    let lines = report.lines(false);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert!(
        lines[0].starts_with("FAIL ") && lines[0].contains("failing/suite.yaml: wrong-expectations/expects-none: "),
        "{lines:#?}"
    );
}

#[test]
fn absolute_paths_fail_the_test() {
    let report = run("absolute/suite.yaml", None).unwrap();
    assert_eq!(report.failed, 1);
    assert!(failures(&report)[0].2.contains("absolute path /etc/template.yaml refused"));
}

#[test]
fn a_malformed_suite_is_an_error_naming_the_file() {
    let err = run("broken/...", None).unwrap_err().to_string();
    assert!(
        err.ends_with("broken/suite.yaml: tests[0].constraint: a string, found [\"not\",\"a\",\"string\"]"),
        "{err}"
    );
    let err = run("no-such-dir/...", None).unwrap_err().to_string();
    assert!(err.starts_with("cannot read"), "{err}");
}

/// The policy library's suites are the contract of our templates, one suite per template (also run by scripts/test.sh
/// through the CLI).
#[test]
fn the_policy_library_suites_pass() {
    let root = format!("{}/...", policy_library::templates_dir().display());
    let report = verify(&[root], &VerifyOptions::default()).unwrap();
    assert_eq!(report.suites, policy_library::all().len(), "one suite per embedded template");
    assert!(report.success(), "{}\n{}", report.lines(false).join("\n"), report.summary_line());
}
