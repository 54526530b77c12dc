//! Scenarios the runner did not run, added to cucumber's `junit.xml` as skipped test cases.
//!
//! cucumber's JUnit writer only sees scenarios that passed the filter, so a scenario dropped
//! for want of a Docker engine would vanish from CI's test list. Reports should tell the truth:
//! CI should show it as skipped, with the reason, like the HTML does.

use std::fmt::Write as _;

use super::{cucumber_json::Feature, html::escape};

/// Returns `xml` with one `<testsuite>` per feature that has scenarios that were not run, each
/// of them a `<testcase>` holding `<skipped message="reason"/>`. Names follow cucumber's writer
/// (`Feature: name: uri`, `Scenario: name: uri:line`) so that CI groups them with the rest.
pub fn add_not_run(xml: &str, features: &[Feature]) -> String {
    let mut suites = String::new();
    for (index, feature) in features.iter().enumerate() {
        let uri = feature.uri.as_deref().unwrap_or_default();
        let not_run: Vec<_> = feature
            .elements
            .iter()
            .filter_map(|e| e.harness_skipped_reason.as_deref().map(|reason| (e, reason)))
            .collect();
        if not_run.is_empty() {
            continue;
        }
        let suite = escape(&format!("{}: {}: {uri}", feature.keyword, feature.name));
        let n = not_run.len();
        let _ = write!(
            suites,
            "<testsuite id=\"not-run-{index}\" name=\"{suite}\" package=\"testsuite/{suite}\" \
             tests=\"{n}\" errors=\"0\" failures=\"0\" skipped=\"{n}\" time=\"0\">"
        );
        for (element, reason) in not_run {
            let case = escape(&format!("{}: {}: {uri}:{}", element.keyword, element.name, element.line));
            let _ = write!(
                suites,
                "<testcase name=\"{case}\" time=\"0\"><skipped message=\"{}\"/></testcase>",
                escape(reason)
            );
        }
        suites.push_str("</testsuite>");
    }
    if suites.is_empty() {
        return xml.to_owned();
    }
    if let Some(end) = xml.rfind("</testsuites>") {
        format!("{}{suites}{}", &xml[..end], &xml[end..])
    } else if let Some(empty) = xml.rfind("<testsuites/>") {
        let tail = &xml[empty + "<testsuites/>".len()..];
        format!("{}<testsuites>{suites}</testsuites>{tail}", &xml[..empty])
    } else {
        xml.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cucumber_json::Element;

    fn features() -> Vec<Feature> {
        let dropped = Element {
            keyword: "Scenario".into(),
            name: "k3s <in> Docker".into(),
            line: 5,
            harness_skipped_reason: Some("no Docker engine".into()),
            ..Element::default()
        };
        let ran = Element { name: "ran".into(), ..Element::default() };
        vec![Feature {
            uri: Some("features/c.feature".into()),
            keyword: "Feature".into(),
            name: "Containers".into(),
            elements: vec![ran, dropped],
            ..Feature::default()
        }]
    }

    #[test]
    fn adds_skipped_cases_inside_testsuites() {
        let xml = add_not_run("<?xml version=\"1.0\"?><testsuites><testsuite/></testsuites>", &features());
        assert!(xml.ends_with("</testsuite></testsuites>"), "{xml}");
        assert!(xml.contains("name=\"Feature: Containers: features/c.feature\""));
        assert!(xml.contains("<testcase name=\"Scenario: k3s &lt;in&gt; Docker: features/c.feature:5\""));
        assert!(xml.contains("<skipped message=\"no Docker engine\"/>"));
        assert_eq!(xml.matches("<testcase").count(), 1);
    }

    #[test]
    fn handles_an_empty_report_and_leaves_complete_runs_alone() {
        let xml = add_not_run("<testsuites/>", &features());
        assert!(xml.starts_with("<testsuites><testsuite ") && xml.ends_with("</testsuites>"), "{xml}");
        let untouched = "<testsuites></testsuites>";
        assert_eq!(add_not_run(untouched, &[Feature::default()]), untouched);
    }
}
