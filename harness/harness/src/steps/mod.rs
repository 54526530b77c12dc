//! The step library. Steps are thin: each parses its text and calls the World's domain API.
//!
//! This module is compiled into the `harness` binary and into `tests/bdd.rs` (cucumber collects
//! steps at link time, so they live in the crates that run them, not in the library).

mod addon_steps;
mod azure_steps;
mod current_addon_steps;
mod kubernetes_steps;

/// The rows of a step's data table, header excluded.
pub fn table_rows(step: &cucumber::gherkin::Step) -> Vec<Vec<String>> {
    step.table.as_ref().map(|t| t.rows.iter().skip(1).cloned().collect()).unwrap_or_default()
}

/// A step's doc string, or an error naming the step.
pub fn docstring(step: &cucumber::gherkin::Step) -> anyhow::Result<&str> {
    step.docstring.as_deref().ok_or_else(|| anyhow::anyhow!("step `{}` needs a doc string", step.value))
}
