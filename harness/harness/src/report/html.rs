//! The living-documentation page: one self-contained HTML file rendered from the Cucumber JSON.
//!
//! It is meant to be read by people who want to learn how Azure Policy for AKS behaves, so it
//! shows the Gherkin as written (narratives, doc strings, tables) with each step's result next
//! to it, and puts what a CI reader wants first: totals, wall time and links to the failures.
//! Inline CSS only and no scripts, so the file can be archived as a CI artifact and opened from
//! disk, or printed. Every piece of text from the run is escaped.

use std::{fmt::Write as _, time::Duration};

use super::cucumber_json::{Feature, Outcome, Scenario, Step, Totals, scenarios};

const TITLE: &str = "aks-policy-harness: living documentation";

const CSS: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header,main,nav{max-width:62rem;margin:0 auto;padding:0 1.2rem}
header{padding-top:1.2rem}
h1{font-size:1.5rem;margin:.4rem 0}
h2{font-size:1.25rem;margin:0 0 .3rem}
h3{font-size:1.02rem;margin:0 0 .4rem;display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap}
a{color:#0b5cad}
.totals span,.badge{display:inline-block;border-radius:.8rem;padding:.05rem .6rem;margin-right:.3rem;font-size:.85rem}
.passed .badge,.badge.passed,.totals .passed{background:#dcf3e2;color:#14632d}
.failed .badge,.badge.failed,.totals .failed{background:#fbdcdc;color:#8a1414}
.skipped .badge,.badge.skipped,.totals .skipped{background:#fff0c7;color:#6b4d00}
.meta{color:#5b6570;font-size:.85rem}
nav ul{columns:2;padding-left:1.1rem}
.feature{background:#fff;border:1px solid #dde1e6;border-radius:.5rem;padding:1rem 1.2rem;margin:1.2rem 0}
.narrative{white-space:pre-line;margin:.3rem 0 .8rem;color:#39424c}
.scenario{border-left:4px solid #9aa3ad;padding:.4rem .8rem;margin:.9rem 0;background:#fbfbfc}
.scenario.passed{border-color:#2f9e52}.scenario.failed{border-color:#d12f2f}.scenario.skipped{border-color:#d9a300}
.tag{font-family:ui-monospace,monospace;font-size:.8rem;color:#6a3fa0;margin-right:.4rem}
.time{margin-left:auto;color:#5b6570;font-size:.85rem;font-weight:normal}
ol.steps{list-style:none;padding:0;margin:.2rem 0}
ol.steps li{padding:.1rem 0}
.icon{display:inline-block;width:1.2rem}
li.passed .icon{color:#2f9e52}li.failed .icon{color:#d12f2f}li.skipped .icon{color:#b58800}
li.background{color:#5b6570}
.kw{font-weight:600}
pre{background:#f0f2f5;border-radius:.3rem;padding:.5rem .7rem;margin:.3rem 0 .3rem 1.7rem;overflow-x:auto;white-space:pre-wrap}
pre.error{background:#fdecec;color:#7a1010}
table{border-collapse:collapse;margin:.3rem 0 .3rem 1.7rem;font-size:.9rem}
th,td{border:1px solid #cfd5dc;padding:.15rem .5rem;text-align:left}
th{background:#eef1f4}
.reason{color:#6b4d00;margin:.2rem 0}
";

/// Renders the whole report. `wall` is the run's wall-clock time, which the JSON does not hold.
pub fn render(features: &[Feature], wall: Option<Duration>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(out, "<title>{TITLE}</title><style>{CSS}</style></head><body>");
    header(&mut out, features, wall);
    out.push_str("<main>");
    for (index, feature) in features.iter().enumerate() {
        feature_section(&mut out, index, feature);
    }
    out.push_str("</main></body></html>\n");
    out
}

/// Parses `cucumber.json` and renders it (see [`render`]).
pub fn render_json(cucumber_json: &str, wall: Option<Duration>) -> serde_json::Result<String> {
    let features: Vec<Feature> = serde_json::from_str(cucumber_json)?;
    Ok(render(&features, wall))
}

/// Totals, wall time, the table of contents and links to every failed scenario.
fn header(out: &mut String, features: &[Feature], wall: Option<Duration>) {
    let totals = Totals::of(features);
    let (sc, st) = (totals.scenarios, totals.steps);
    let _ = write!(out, "<header><h1>{TITLE}</h1><p class=\"totals\">");
    let _ = write!(
        out,
        "<span class=\"passed\">{} passed</span><span class=\"failed\">{} failed</span>\
         <span class=\"skipped\">{} skipped</span>",
        sc.passed, sc.failed, sc.skipped
    );
    let _ = write!(
        out,
        "</p><p class=\"meta\">{} features, {} scenarios, {} steps ({} passed, {} failed, {} skipped)",
        totals.features,
        sc.total(),
        st.total(),
        st.passed,
        st.failed,
        st.skipped
    );
    if let Some(wall) = wall {
        let _ = write!(out, " · wall time {:.2} s", wall.as_secs_f64());
    }
    out.push_str("</p></header><nav>");
    let failed: Vec<_> = features
        .iter()
        .enumerate()
        .flat_map(|(f, feature)| scenarios(feature).into_iter().enumerate().map(move |(s, sc)| (f, s, sc)))
        .filter(|(_, _, sc)| sc.outcome() == Outcome::Failed)
        .collect();
    if !failed.is_empty() {
        out.push_str("<h2>Failures</h2><ul class=\"failed\">");
        for (f, s, sc) in failed {
            let name = format!("{} › {}", feature_name(&features[f]), sc.element.name);
            let _ = write!(out, "<li><a href=\"#f{f}-s{s}\">{}</a></li>", escape(&name));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Features</h2><ul>");
    for (index, feature) in features.iter().enumerate() {
        let _ = write!(out, "<li><a href=\"#f{index}\">{}</a></li>", escape(&feature_name(feature)));
    }
    out.push_str("</ul></nav>");
}

fn feature_section(out: &mut String, index: usize, feature: &Feature) {
    let _ = write!(out, "<section class=\"feature\" id=\"f{index}\"><h2><span class=\"kw\">");
    let keyword = if feature.keyword.is_empty() { "Feature" } else { &feature.keyword };
    let _ = write!(out, "{}:</span> {}</h2>", escape(keyword), escape(&feature_name(feature)));
    tags(out, feature.tags.iter().map(|t| t.name.as_str()));
    if let Some(uri) = &feature.uri {
        let _ = write!(out, "<p class=\"meta\">{}</p>", escape(uri));
    }
    if let Some(description) = &feature.description {
        let text: Vec<&str> = description.lines().map(str::trim).collect();
        let _ = write!(out, "<div class=\"narrative\">{}</div>", escape(text.join("\n").trim()));
    }
    for (s, scenario) in scenarios(feature).iter().enumerate() {
        scenario_article(out, &format!("f{index}-s{s}"), scenario);
    }
    out.push_str("</section>");
}

fn scenario_article(out: &mut String, id: &str, scenario: &Scenario<'_>) {
    let el = scenario.element;
    let outcome = scenario.outcome().as_str();
    let _ = write!(out, "<article class=\"scenario {outcome}\" id=\"{id}\"><h3>");
    let _ = write!(out, "<span class=\"badge\">{outcome}</span><span><span class=\"kw\">");
    let _ = write!(out, "{}:</span> {}</span>", escape(&el.keyword), escape(&el.name));
    let _ = write!(out, "<span class=\"time\">{}</span></h3>", human(scenario.duration_nanos()));
    tags(out, el.tags.iter().map(|t| t.name.as_str()));
    if let Some(reason) = &el.harness_skipped_reason {
        let _ = write!(out, "<p class=\"reason\">Not run: {}</p>", escape(reason));
    }
    out.push_str("<ol class=\"steps\">");
    for step in scenario.background.iter().flat_map(|b| &b.steps) {
        step_item(out, step, true);
    }
    for step in &el.steps {
        step_item(out, step, false);
    }
    out.push_str("</ol>");
    for (hook, result) in scenario.failed_hooks() {
        let message = result.error_message.as_deref().unwrap_or("failed");
        let _ = write!(out, "<p class=\"kw\">{hook} failed</p><pre class=\"error\">{}</pre>", escape(message));
    }
    out.push_str("</article>");
}

fn step_item(out: &mut String, step: &Step, background: bool) {
    let outcome = step.result.status.outcome();
    let icon = match outcome {
        Outcome::Passed => "✔",
        Outcome::Failed => "✘",
        Outcome::Skipped => "↷",
    };
    let class = if background { " background" } else { "" };
    let _ = write!(out, "<li class=\"step {}{class}\">", outcome.as_str());
    let _ = write!(out, "<span class=\"icon\" title=\"{:?}\">{icon}</span>", step.result.status);
    let _ = write!(out, "<span class=\"kw\">{}</span> {}", escape(step.keyword.trim()), escape(&step.name));
    if step.result.duration > 0 {
        let _ = write!(out, " <span class=\"meta\">{}</span>", human(step.result.duration));
    }
    if let Some(doc) = &step.doc_string {
        let _ = write!(out, "<pre class=\"docstring\">{}</pre>", escape(&doc.value));
    }
    if let Some(rows) = &step.rows {
        out.push_str("<table>");
        for (r, row) in rows.iter().enumerate() {
            let cell = if r == 0 { "th" } else { "td" };
            out.push_str("<tr>");
            for value in &row.cells {
                let _ = write!(out, "<{cell}>{}</{cell}>", escape(value));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    if let Some(error) = &step.result.error_message {
        let _ = write!(out, "<pre class=\"error\">{}</pre>", escape(error));
    }
    for text in step.embeddings.iter().filter_map(|e| e.text()) {
        let _ = write!(out, "<pre class=\"log\">{}</pre>", escape(&text));
    }
    out.push_str("</li>");
}

fn tags<'a>(out: &mut String, names: impl Iterator<Item = &'a str>) {
    let names: Vec<_> = names.collect();
    if names.is_empty() {
        return;
    }
    out.push_str("<p>");
    for name in names {
        let at = if name.starts_with('@') { "" } else { "@" };
        let _ = write!(out, "<span class=\"tag\">{at}{}</span>", escape(name));
    }
    out.push_str("</p>");
}

/// A feature that failed to parse has no name; show its file instead.
fn feature_name(feature: &Feature) -> String {
    if feature.name.is_empty() {
        format!("(could not be parsed) {}", feature.uri.as_deref().unwrap_or("unknown file"))
    } else {
        feature.name.clone()
    }
}

/// A step's or scenario's time; blank for steps that never ran.
fn human(nanos: u64) -> String {
    if nanos == 0 { String::new() } else { super::human_duration(Duration::from_nanos(nanos)) }
}

/// Escapes text for element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cucumber_json::{DocString, Element, Row, RunResult, Status};

    fn step(name: &str, status: Status, error: Option<&str>) -> Step {
        let result = RunResult { status, duration: 2_000_000, error_message: error.map(Into::into) };
        Step { keyword: "Given ".into(), name: name.into(), result, ..Step::default() }
    }

    fn feature() -> Feature {
        let mut passing = step("a <b>bold</b> & \"quoted\" step", Status::Passed, None);
        passing.doc_string = Some(DocString { value: "<script>alert(1)</script>".into(), line: 4 });
        passing.rows = Some(vec![Row { cells: vec!["name".into()] }, Row { cells: vec!["<td>".into()] }]);
        let element = |name: &str, line, steps| Element {
            keyword: "Scenario".into(),
            kind: "scenario".into(),
            name: String::from(name),
            line,
            steps,
            ..Element::default()
        };
        let mut skipped = element("not run", 9, vec![step("later", Status::Skipped, None)]);
        skipped.harness_skipped_reason = Some("no Docker engine".into());
        Feature {
            keyword: "Feature".into(),
            name: "Denials & <audits>".into(),
            description: Some("  As an operator\n  I want <policies>".into()),
            elements: vec![
                element("ok", 3, vec![passing]),
                element("broken", 6, vec![step("boom", Status::Failed, Some("expected <1> got 2"))]),
                skipped,
            ],
            ..Feature::default()
        }
    }

    #[test]
    fn escapes_everything_from_the_run() {
        let html = render(&[feature()], None);
        assert!(html.contains("Denials &amp; &lt;audits&gt;"));
        assert!(html.contains("a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; step"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<td>&lt;td&gt;</td>"));
        assert!(html.contains("expected &lt;1&gt; got 2"));
        assert!(!html.contains("<script>"), "no raw markup from the run may survive");
        assert_eq!(escape("'&'"), "&#39;&amp;&#39;");
    }

    #[test]
    fn shows_each_status_totals_and_wall_time() {
        let html = render(&[feature()], Some(Duration::from_millis(12_340)));
        assert!(html.contains("<span class=\"passed\">1 passed</span>"));
        assert!(html.contains("<span class=\"failed\">1 failed</span>"));
        assert!(html.contains("<span class=\"skipped\">1 skipped</span>"));
        assert!(html.contains("wall time 12.34 s"));
        for class in ["scenario passed", "scenario failed", "scenario skipped"] {
            assert!(html.contains(class), "missing {class}");
        }
        assert!(html.contains("Not run: no Docker engine"));
        assert!(
            html.contains("<h2>Failures</h2>")
                && html.contains("href=\"#f0-s1\">Denials &amp; &lt;audits&gt; › broken</a>")
        );
        assert!(html.contains("As an operator\nI want &lt;policies&gt;"));
        assert!(html.contains("2 ms"));
    }

    #[test]
    fn a_feature_that_failed_to_parse_is_named_by_its_file() {
        let broken = Feature { uri: Some("features/x.feature".into()), ..Feature::default() };
        assert!(render(&[broken], None).contains("(could not be parsed) features/x.feature"));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0), "");
        assert_eq!(human(500), "<1 ms");
        assert_eq!(human(42_000_000), "42 ms");
        assert_eq!(human(1_500_000_000), "1.50 s");
    }

    #[test]
    fn renders_json_and_rejects_garbage() {
        let json = serde_json::to_string(&[feature()]).unwrap();
        assert!(render_json(&json, None).unwrap().contains("Denials"));
        assert!(render_json("{not json", None).is_err());
    }
}
