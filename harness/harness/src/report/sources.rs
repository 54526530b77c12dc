//! What cucumber's JSON writer leaves out, taken from the Gherkin the run parsed.
//!
//! The living documentation needs each feature's narrative and each step's doc string and data
//! table, and cucumber-rs's `writer::Json` writes none of them. Rather than parse the feature
//! files a second time (and risk disagreeing with cucumber about Outline expansion), the runner
//! records them from the parsed features its scenario filter is shown, then [`Sources::enrich`]
//! writes them into the report as the standard Cucumber JSON fields.
//!
//! It also keeps the scenarios the runner dropped before running them (no Docker engine), so
//! that the report shows them as skipped, with the reason, instead of silently leaving them out.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use cucumber::gherkin;

use super::cucumber_json::{DocString, Element, Feature, Row, RunResult, Status, Step, Tag};

/// The Gherkin details of every feature the run saw, in parse order.
#[derive(Debug, Default)]
pub struct Sources {
    features: Vec<FeatureSource>,
    /// Report paths are relative to this (the repository root), so reports read the same on
    /// every machine.
    root: Option<PathBuf>,
}

#[derive(Debug)]
struct FeatureSource {
    path: Option<PathBuf>,
    keyword: String,
    name: String,
    description: Option<String>,
    tags: Vec<String>,
    /// Doc strings and tables by (scenario line, step line): an Outline's rows share step
    /// lines but not scenario lines, and their tables differ after substitution.
    steps: HashMap<(usize, usize), Extras>,
    /// Scenarios the runner did not run, as skipped report elements.
    dropped: Vec<Element>,
}

impl FeatureSource {
    fn new(feature: &gherkin::Feature) -> Self {
        FeatureSource {
            path: feature.path.clone(),
            keyword: feature.keyword.clone(),
            name: feature.name.clone(),
            description: feature.description.clone().filter(|d| !d.trim().is_empty()),
            tags: feature.tags.clone(),
            steps: HashMap::new(),
            dropped: Vec::new(),
        }
    }

    fn is(&self, feature: &gherkin::Feature) -> bool {
        self.name == feature.name && self.path == feature.path
    }

    /// Whether a report feature is this one. The JSON `uri` is the path with the crate or
    /// workspace directory trimmed off, so compare path suffixes.
    fn matches(&self, feature: &Feature) -> bool {
        self.name == feature.name
            && match (&self.path, &feature.uri) {
                (Some(path), Some(uri)) => path.ends_with(uri),
                _ => true,
            }
    }

    fn report_feature(&self, root: Option<&Path>) -> Feature {
        Feature {
            uri: self.path.as_deref().map(|p| relative(p, root)),
            keyword: self.keyword.clone(),
            name: self.name.clone(),
            tags: tags(&self.tags, 0),
            ..Feature::default()
        }
    }
}

impl Sources {
    /// Sources whose report paths are relative to `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Sources { features: Vec::new(), root: Some(root.into()) }
    }

    /// Remembers the feature's narrative and the doc strings and tables of a scenario that runs
    /// (its background steps included).
    pub fn record(&mut self, feature: &gherkin::Feature, rule: Option<&gherkin::Rule>, scenario: &gherkin::Scenario) {
        let source = self.feature_mut(feature);
        let line = scenario.position.line;
        let backgrounds = feature.background.iter().chain(rule.and_then(|r| r.background.as_ref()));
        for step in backgrounds.flat_map(|b| &b.steps).chain(&scenario.steps) {
            if step.docstring.is_some() || step.table.is_some() {
                source.steps.insert((line, step.position.line), extras(step));
            }
        }
    }

    /// Records a scenario the runner decided not to run, and why.
    pub fn record_dropped(
        &mut self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        reason: &str,
    ) {
        let line = scenario.position.line;
        let steps = scenario.steps.iter().map(|step| {
            let (doc_string, rows) = extras(step);
            let result = RunResult { status: Status::Skipped, ..RunResult::default() };
            Step {
                keyword: step.keyword.clone(),
                line: step.position.line,
                name: step.value.clone(),
                result,
                doc_string,
                rows,
                ..Step::default()
            }
        });
        let rule_prefix = rule.map(|r| format!("{} ", r.name)).unwrap_or_default();
        let element = Element {
            keyword: scenario.keyword.clone(),
            kind: "scenario".into(),
            id: format!("{}/{}", feature.name, scenario.name),
            line,
            name: format!("{rule_prefix}{}", scenario.name),
            tags: tags(&scenario.tags, line),
            steps: steps.collect(),
            harness_skipped_reason: Some(reason.to_owned()),
            ..Element::default()
        };
        self.feature_mut(feature).dropped.push(element);
    }

    /// Names of the dropped scenarios, as `Feature › Scenario`.
    pub fn dropped(&self) -> impl Iterator<Item = String> + '_ {
        self.features.iter().flat_map(|f| f.dropped.iter().map(move |e| format!("{} › {}", f.name, e.name)))
    }

    /// Writes narratives, doc strings and tables into the report, adds the dropped scenarios in
    /// file order, and puts the features back in parse order (parse errors last).
    pub fn enrich(&self, report: &mut Vec<Feature>) {
        for source in &self.features {
            let index = match report.iter().position(|f| source.matches(f)) {
                Some(index) => index,
                None => {
                    report.push(source.report_feature(self.root.as_deref()));
                    report.len() - 1
                }
            };
            let feature = &mut report[index];
            feature.uri = source.path.as_deref().map(|p| relative(p, self.root.as_deref())).or(feature.uri.take());
            feature.description = source.description.clone();
            for element in &mut feature.elements {
                for step in &mut element.steps {
                    if let Some((doc, rows)) = source.steps.get(&(element.line, step.line)) {
                        step.doc_string = doc.clone();
                        step.rows = rows.clone();
                    }
                }
            }
            feature.elements.extend(source.dropped.iter().cloned());
            // File order; a background element goes just before its scenario (same line).
            feature.elements.sort_by_key(|e| (e.line, !e.is_background()));
        }
        report.sort_by_key(|f| self.features.iter().position(|s| s.matches(f)).unwrap_or(usize::MAX));
    }

    fn feature_mut(&mut self, feature: &gherkin::Feature) -> &mut FeatureSource {
        let index = match self.features.iter().position(|f| f.is(feature)) {
            Some(index) => index,
            None => {
                self.features.push(FeatureSource::new(feature));
                self.features.len() - 1
            }
        };
        &mut self.features[index]
    }
}

/// A step's doc string and data table.
type Extras = (Option<DocString>, Option<Vec<Row>>);

/// A step's doc string and table in Cucumber JSON's shape.
fn extras(step: &gherkin::Step) -> Extras {
    // gherkin keeps the newlines after the opening and before the closing delimiter.
    let doc = step.docstring.as_ref().map(|value| DocString {
        value: value.strip_prefix('\n').unwrap_or(value).trim_end_matches('\n').to_owned(),
        line: step.position.line + 1,
    });
    let rows = step.table.as_ref().map(|t| t.rows.iter().map(|cells| Row { cells: cells.clone() }).collect());
    (doc, rows)
}

/// The path relative to `root`, else to the working directory, else as it is.
fn relative(path: &Path, root: Option<&Path>) -> String {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let bases = root.map(Path::to_path_buf).into_iter().chain(std::env::current_dir().ok());
    bases
        .filter_map(|base| base.canonicalize().ok())
        .find_map(|base| canonical.strip_prefix(base).ok().map(Path::to_path_buf))
        .unwrap_or(canonical)
        .display()
        .to_string()
}

fn tags(names: &[String], line: usize) -> Vec<Tag> {
    names.iter().map(|name| Tag { name: name.clone(), line }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEATURE: &str = "\
Feature: Docs
  The narrative.

  Background:
    Given a table
      | a | b |
      | 1 | 2 |

  Scenario: Runs
    When a doc string
      \"\"\"
      hello
      \"\"\"

  @requires-docker
  Scenario: Dropped
    Then nothing
";

    fn parse() -> gherkin::Feature {
        gherkin::Feature::parse(FEATURE, gherkin::GherkinEnv::default()).unwrap()
    }

    #[test]
    fn fills_in_what_the_json_writer_leaves_out() {
        let feature = parse();
        let mut sources = Sources::default();
        sources.record(&feature, None, &feature.scenarios[0]);
        sources.record_dropped(&feature, None, &feature.scenarios[1], "no Docker");
        let step = |line| Step { line, ..Step::default() };
        let line = feature.scenarios[0].position.line;
        let mut report = vec![Feature {
            name: "Docs".into(),
            elements: vec![
                Element { kind: "scenario".into(), line, steps: vec![step(10)], ..Element::default() },
                Element { kind: "background".into(), line, steps: vec![step(5)], ..Element::default() },
            ],
            ..Feature::default()
        }];
        sources.enrich(&mut report);
        let f = &report[0];
        assert_eq!(f.description.as_deref().map(str::trim), Some("The narrative."));
        let rows = f.elements[0].steps[0].rows.as_ref().unwrap();
        assert_eq!(rows[1].cells, ["1", "2"]);
        assert_eq!(f.elements[1].steps[0].doc_string.as_ref().unwrap().value, "hello");
        assert_eq!(f.elements[2].harness_skipped_reason.as_deref(), Some("no Docker"));
        assert_eq!(sources.dropped().collect::<Vec<_>>(), ["Docs › Dropped"]);
    }
}
