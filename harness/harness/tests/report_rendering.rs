//! The runner and its reports end to end, with a tiny World and the fixtures in
//! `tests/report-fixtures/`: one scenario passes, one fails, one needs Docker (which the run
//! says is missing) and one is filtered out by tags. The HTML report is then loaded in headless
//! Chromium, the browser the issue names, to prove it renders and shows every feature.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Mutex,
    time::Duration,
};

use cucumber::{World, gherkin::Step, given, then, when};
use harness::{
    report::{self, Outcome},
    runner::{self, RunOptions, RunSummary, ScenarioHooks},
};

/// Teardowns the runner made, by scenario name: proves cleanup runs after passes and failures.
static TEARDOWNS: Mutex<Vec<(String, Outcome)>> = Mutex::new(Vec::new());

#[derive(Debug, Default, World)]
struct Calculator {
    numbers: Vec<i64>,
}

impl ScenarioHooks for Calculator {
    async fn teardown(&mut self, scenario: &cucumber::gherkin::Scenario, outcome: Outcome) -> anyhow::Result<()> {
        TEARDOWNS.lock().unwrap().push((scenario.name.clone(), outcome));
        if scenario.tags.iter().any(|t| t == "teardown-fails") {
            anyhow::bail!("could not delete namespace calc-1");
        }
        Ok(())
    }
}

#[given("the calculator is cleared")]
fn cleared(world: &mut Calculator) {
    world.numbers.clear();
}

#[given("these numbers:")]
fn numbers(world: &mut Calculator, step: &Step) {
    let table = step.table.as_ref().expect("a data table");
    world.numbers.extend(table.rows.iter().skip(1).map(|row| row[0].parse::<i64>().unwrap()));
}

#[when("I write down:")]
fn write_down(_world: &mut Calculator, step: &Step) {
    assert!(step.docstring.is_some(), "a doc string");
}

#[then(expr = "the result is {int}")]
fn result_is(world: &mut Calculator, expected: i64) {
    let sum: i64 = world.numbers.iter().sum();
    assert_eq!(sum, expected, "the sum of {:?}", world.numbers);
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report-fixtures")
}

#[tokio::test]
async fn runner_writes_junit_json_and_html_that_chromium_renders() {
    let (reports, summary) = run_fixtures("report-rendering", "not @wip and not @misconfigured").await;
    assert_eq!(counts(&summary), (1, 1, 1), "{summary}");
    assert!(!summary.succeeded());

    let mut teardowns = TEARDOWNS.lock().unwrap().clone();
    // The misconfiguration test runs at the same time and tears down its own scenarios.
    teardowns.retain(|(name, _)| !["A step with a typo", "Cleanup that fails"].contains(&name.as_str()));
    teardowns.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        teardowns,
        [
            ("A wrong sum fails with a readable message".to_owned(), Outcome::Failed),
            ("Adding a column of numbers".to_owned(), Outcome::Passed),
        ],
        "teardown runs after every scenario that ran, pass or fail"
    );

    let junit = std::fs::read_to_string(reports.join(report::JUNIT_XML)).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 3, "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    assert!(junit.contains("<skipped message=\"no Docker engine"), "the dropped scenario is in JUnit: {junit}");
    assert!(junit.contains("the sum of [2, 2]"), "the step error is in JUnit: {junit}");

    let json = std::fs::read_to_string(reports.join(report::CUCUMBER_JSON)).unwrap();
    assert!(json.contains("\"doc_string\"") && json.contains("\"rows\""), "enriched JSON");

    let dom = chromium_dom(&reports.join(report::INDEX_HTML)).await;
    for name in ["Arithmetic on a tiny calculator", "Scenarios that need a container engine"] {
        assert!(dom.contains(name), "feature {name:?} missing from the rendered page:\n{dom}");
    }
    assert!(!dom.contains("Work in progress"), "scenarios filtered out by tags are not shown");
    assert!(dom.contains("1 failed") && dom.contains("no Docker engine"), "{dom}");
    assert!(dom.contains("five, written &lt;down&gt;"), "doc strings are shown, escaped");
}

#[tokio::test]
async fn undefined_steps_and_failed_teardowns_fail_the_scenario_everywhere() {
    let (reports, summary) = run_fixtures("report-rendering-misconfigured", "@misconfigured").await;
    assert_eq!(counts(&summary), (0, 2, 0), "{summary}");
    let junit = std::fs::read_to_string(reports.join(report::JUNIT_XML)).unwrap();
    assert_eq!(junit.matches("<failure").count(), 2, "{junit}");
    assert!(junit.contains("could not delete namespace calc-1"), "{junit}");
    let html = std::fs::read_to_string(reports.join(report::INDEX_HTML)).unwrap();
    assert!(html.contains("After hook failed") && html.contains("could not delete namespace"), "{html}");
}

#[tokio::test]
async fn a_bad_tag_expression_or_missing_features_is_an_error_not_a_run() {
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-rendering-unused");
    let bad_tags = RunOptions { tags: Some("@a and and".into()), ..RunOptions::new(fixtures(), &reports) };
    let err = runner::run::<Calculator>(bad_tags).await.unwrap_err();
    assert!(err.to_string().contains("invalid tag expression"), "{err:#}");
    let missing = RunOptions::new(fixtures().join("nope"), &reports);
    assert!(runner::run::<Calculator>(missing).await.is_err());
}

/// Runs the fixtures matching `tags` without Docker, into a reports directory kept after the
/// run so that the page can be opened (cleared first so that nothing stale can pass).
async fn run_fixtures(dir: &str, tags: &str) -> (PathBuf, RunSummary) {
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::remove_dir_all(&reports).ok();
    let opts = RunOptions {
        tags: Some(tags.into()),
        concurrency: 2,
        docker_available: false,
        ..RunOptions::new(fixtures(), &reports)
    };
    let summary = runner::run::<Calculator>(opts).await.expect("the run happens");
    (reports, summary)
}

fn counts(summary: &RunSummary) -> (usize, usize, usize) {
    (summary.passed, summary.failed, summary.skipped)
}

/// The page as headless Chromium renders it (`--dump-dom` prints the DOM after load).
async fn chromium_dom(page: &Path) -> String {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|b| on_path(b)) else {
        panic!(
            "headless Chromium is required for this test and was not found on PATH: \
             install it with `apt-get install -y chromium` (CI installs it)"
        );
    };
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finishes within 90 s")
        .expect("chromium starts");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}
