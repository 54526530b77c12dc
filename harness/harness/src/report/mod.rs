//! Reports of a scenario run: JUnit for CI, Cucumber JSON, and the HTML living documentation.
//!
//! cucumber's own writers produce `junit.xml` and `cucumber.json` during the run (see
//! [`crate::runner`]). Afterwards [`finish`] completes the JSON with what cucumber leaves out
//! ([`sources`]), and renders `index.html` from it ([`html`]). The JSON stays the single source
//! for both the HTML and the runner's summary line ([`cucumber_json::Totals`]).
//!
//! - [`cucumber_json`]: serde types for the Cucumber JSON and the scenario outcome rules;
//! - [`sources`]: narratives, doc strings, tables and dropped scenarios from the parsed Gherkin;
//! - [`html`]: the self-contained HTML page;
//! - [`junit`]: adds the scenarios the runner did not run to `junit.xml`, as skipped;
//! - [`timings`]: per-scenario timings on the terminal during the run.

pub mod cucumber_json;
pub mod html;
pub mod junit;
pub mod sources;
pub mod timings;

use std::{fs, path::Path, time::Duration};

use anyhow::Context as _;

pub use cucumber_json::{Outcome, Totals};

/// File names inside the reports directory.
pub const JUNIT_XML: &str = "junit.xml";
pub const CUCUMBER_JSON: &str = "cucumber.json";
pub const INDEX_HTML: &str = "index.html";

/// Durations as a reader wants them: milliseconds below a second, else seconds.
pub fn human_duration(duration: Duration) -> String {
    match duration.as_nanos() {
        n if n < 1_000_000 => "<1 ms".into(),
        n if n < 1_000_000_000 => format!("{} ms", n / 1_000_000),
        _ => format!("{:.2} s", duration.as_secs_f64()),
    }
}

/// Completes `cucumber.json` in `reports_dir` with `sources` and rewrites it, adds the scenarios
/// that were not run to `junit.xml`, renders `index.html`, and returns the totals they all show.
pub fn finish(reports_dir: &Path, sources: &sources::Sources, wall: Duration) -> anyhow::Result<Totals> {
    let json_path = reports_dir.join(CUCUMBER_JSON);
    let json = fs::read_to_string(&json_path).with_context(|| format!("reading {}", json_path.display()))?;
    let mut features: Vec<cucumber_json::Feature> =
        serde_json::from_str(&json).with_context(|| format!("parsing {}", json_path.display()))?;
    sources.enrich(&mut features);
    fs::write(&json_path, serde_json::to_vec_pretty(&features)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let junit_path = reports_dir.join(JUNIT_XML);
    let xml = fs::read_to_string(&junit_path).with_context(|| format!("reading {}", junit_path.display()))?;
    fs::write(&junit_path, junit::add_not_run(&xml, &features))
        .with_context(|| format!("writing {}", junit_path.display()))?;
    let html_path = reports_dir.join(INDEX_HTML);
    fs::write(&html_path, html::render(&features, Some(wall)))
        .with_context(|| format!("writing {}", html_path.display()))?;
    Ok(Totals::of(&features))
}
