//! Serde types for the Cucumber JSON report, and how its results add up to scenario outcomes.
//!
//! cucumber 0.23's `writer::Json` only serialises (its types have no `Deserialize`), so the
//! report needs its own types to read `cucumber.json` back. They follow the writer's output
//! shape, plus three standard Cucumber JSON fields the writer leaves out but cucumber-jvm emits
//! and HTML reporters expect: the feature `description`, and each step's `doc_string` and
//! `rows`. [`super::sources`] fills those in from the Gherkin the run parsed, so that the file
//! alone is enough to render the living documentation again later.
//!
//! One harness-specific field, `harness_skipped_reason`, marks scenarios the runner dropped
//! before running them (e.g. `@requires-docker` without a Docker engine); other Cucumber JSON
//! consumers ignore unknown fields.
//!
//! Outcomes are classified here, once, so that the summary line the runner prints and the
//! totals at the top of the HTML report can never disagree.

use serde::{Deserialize, Serialize};

/// A feature file: one element of the top-level JSON array.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Feature {
    /// The file path, relative to the workspace or crate directory.
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub keyword: String,
    #[serde(default)]
    pub name: String,
    /// The narrative under the `Feature:` line (filled in by [`super::sources`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub elements: Vec<Element>,
}

/// A Gherkin tag, written with its `@`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub line: usize,
}

/// A scenario run, or the background steps run for it (`type` is `background` or `scenario`).
///
/// A background element shares its scenario's `line`; [`scenarios`] pairs them up.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Element {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<HookResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<HookResult>,
    #[serde(default)]
    pub keyword: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub line: usize,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Why the runner did not run this scenario at all (harness extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_skipped_reason: Option<String>,
}

impl Element {
    /// Whether this element holds background steps rather than the scenario's own.
    pub fn is_background(&self) -> bool {
        self.kind == "background"
    }
}

/// One executed (or skipped) Gherkin step.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Step {
    #[serde(default)]
    pub keyword: String,
    #[serde(default)]
    pub line: usize,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub result: RunResult,
    /// Logs attached to the step (`text/x.cucumber.log+plain`, base64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embeddings: Vec<Embedding>,
    /// The step's doc string (filled in by [`super::sources`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_string: Option<DocString>,
    /// The step's data table, header row first (filled in by [`super::sources`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Row>>,
}

/// A doc string in cucumber-jvm's shape.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct DocString {
    pub value: String,
    #[serde(default)]
    pub line: usize,
}

/// A data-table row in cucumber-jvm's shape.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Row {
    pub cells: Vec<String>,
}

/// Data attached to a step or hook.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Embedding {
    /// Base64 of the payload.
    pub data: String,
    #[serde(default)]
    pub mime_type: String,
}

impl Embedding {
    /// The payload as text, when it is base64 of UTF-8 (cucumber's log lines are).
    pub fn text(&self) -> Option<String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.data).ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// A before or after hook's result.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct HookResult {
    #[serde(default)]
    pub result: RunResult,
}

/// The result of a step or hook.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RunResult {
    pub status: Status,
    /// Nanoseconds (cucumber-jvm's unit, which cucumber-rs follows).
    #[serde(default)]
    pub duration: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// A step's status as Cucumber JSON spells it.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    #[default]
    Skipped,
    /// No step definition matched (only reported when undefined steps fail the run).
    Undefined,
    /// More than one step definition matched.
    Ambiguous,
    Pending,
}

impl Status {
    /// What the status means for the scenario: undefined and ambiguous steps are failures
    /// (the scenario did not do what it says), pending is a skip.
    pub fn outcome(self) -> Outcome {
        match self {
            Status::Passed => Outcome::Passed,
            Status::Skipped | Status::Pending => Outcome::Skipped,
            Status::Failed | Status::Undefined | Status::Ambiguous => Outcome::Failed,
        }
    }
}

/// How a scenario (or step) ended, from the reader's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

impl Outcome {
    /// Lower-case name, used for CSS classes and text.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// A scenario as the reader sees it: its own element plus the background steps run before it.
#[derive(Clone, Copy, Debug)]
pub struct Scenario<'a> {
    pub background: Option<&'a Element>,
    pub element: &'a Element,
}

impl Scenario<'_> {
    /// Background steps first, then the scenario's own.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.background.into_iter().chain([self.element]).flat_map(|e| &e.steps)
    }

    fn hooks(&self) -> impl Iterator<Item = &HookResult> {
        self.background.into_iter().chain([self.element]).flat_map(|e| e.before.iter().chain(&e.after))
    }

    /// Failed if any step or hook failed; skipped if it was dropped or any step was skipped;
    /// passed otherwise. This mirrors cucumber's own scenario statistics.
    pub fn outcome(&self) -> Outcome {
        let failed = self.hooks().any(|h| h.result.status.outcome() == Outcome::Failed)
            || self.steps().any(|s| s.result.status.outcome() == Outcome::Failed);
        if failed {
            Outcome::Failed
        } else if self.element.harness_skipped_reason.is_some()
            || self.steps().any(|s| s.result.status.outcome() == Outcome::Skipped)
        {
            Outcome::Skipped
        } else {
            Outcome::Passed
        }
    }

    /// Time spent in the scenario's steps and hooks, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.steps().map(|s| s.result.duration).chain(self.hooks().map(|h| h.result.duration)).sum()
    }

    /// Hook failures, which have no step to hang their message on.
    pub fn failed_hooks(&self) -> impl Iterator<Item = (&'static str, &RunResult)> {
        self.background.into_iter().chain([self.element]).flat_map(|e| {
            let before = e.before.iter().map(|h| ("Before hook", &h.result));
            let after = e.after.iter().map(|h| ("After hook", &h.result));
            before.chain(after).filter(|(_, r)| r.status.outcome() == Outcome::Failed)
        })
    }
}

/// The feature's scenarios in order, each with the background element run for it.
///
/// cucumber's writer emits a scenario's element before its background element (the `before`
/// hook lands first), so they are paired by line, not by position.
pub fn scenarios(feature: &Feature) -> Vec<Scenario<'_>> {
    let background_at = |line| feature.elements.iter().find(|e| e.is_background() && e.line == line);
    feature
        .elements
        .iter()
        .filter(|e| !e.is_background())
        .map(|element| Scenario { background: background_at(element.line), element })
        .collect()
}

/// Scenario and step counts over a whole report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub features: usize,
    pub scenarios: Counts,
    pub steps: Counts,
}

/// Passed, failed and skipped counts of one kind of thing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

impl Totals {
    /// Counts every scenario and step in the report.
    pub fn of(features: &[Feature]) -> Self {
        let mut totals = Totals { features: features.len(), ..Totals::default() };
        for scenario in features.iter().flat_map(scenarios) {
            totals.scenarios.add(scenario.outcome());
            for step in scenario.steps() {
                totals.steps.add(step.result.status.outcome());
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(status: Status) -> Step {
        Step { result: RunResult { status, ..RunResult::default() }, ..Step::default() }
    }

    fn element(kind: &str, line: usize, steps: Vec<Step>) -> Element {
        Element { kind: kind.into(), line, steps, ..Element::default() }
    }

    #[test]
    fn background_pairs_with_its_scenario_and_failures_win() {
        let feature = Feature {
            elements: vec![
                element("scenario", 5, vec![step(Status::Passed), step(Status::Skipped)]),
                element("background", 5, vec![step(Status::Passed)]),
                element("background", 9, vec![step(Status::Failed)]),
                element("scenario", 9, vec![step(Status::Skipped)]),
                element("scenario", 12, vec![step(Status::Passed)]),
            ],
            ..Feature::default()
        };
        let outcomes: Vec<_> = scenarios(&feature).iter().map(Scenario::outcome).collect();
        assert_eq!(outcomes, [Outcome::Skipped, Outcome::Failed, Outcome::Passed]);
        let totals = Totals::of(&[feature]);
        assert_eq!(totals.scenarios, Counts { passed: 1, failed: 1, skipped: 1 });
        assert_eq!(totals.steps, Counts { passed: 3, failed: 1, skipped: 2 });
    }

    #[test]
    fn a_failed_after_hook_fails_a_passing_scenario() {
        let mut el = element("scenario", 3, vec![step(Status::Passed)]);
        el.after.push(HookResult { result: RunResult { status: Status::Failed, ..RunResult::default() } });
        let feature = Feature { elements: vec![el], ..Feature::default() };
        assert_eq!(scenarios(&feature)[0].outcome(), Outcome::Failed);
    }

    #[test]
    fn reads_the_json_writers_shape() {
        let json = r#"[{"uri":"tests/x.feature","keyword":"Feature","name":"X","tags":[],
            "elements":[{"keyword":"Scenario","type":"scenario","id":"x/y","line":3,"name":"Y",
            "tags":[{"name":"@a","line":3}],"steps":[{"keyword":"Given ","line":4,"name":"a",
            "result":{"status":"undefined","duration":12}}]}]}]"#;
        let features: Vec<Feature> = serde_json::from_str(json).unwrap();
        assert_eq!(features[0].elements[0].steps[0].result.status, Status::Undefined);
        assert_eq!(Totals::of(&features).scenarios.failed, 1);
    }
}
