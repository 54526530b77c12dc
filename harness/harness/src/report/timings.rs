//! Per-scenario timings on the terminal, printed in step with cucumber's own progress output.
//!
//! cucumber's `Basic` writer shows each step as it finishes but never how long a scenario took,
//! and a slow scenario is the first thing to look at when the suite's wall time grows. This
//! writer is tee'd next to `Basic` inside the same `Normalize`, so its line lands right under the
//! scenario it times, even when scenarios run concurrently.

use std::{collections::HashMap, time::SystemTime};

use cucumber::{Event, World, Writer, cli, event, parser, writer};

/// A cucumber [`Writer`] that prints `⏱ <time>  <feature> › <scenario>` when a scenario ends.
#[derive(Debug, Default)]
pub struct Timings {
    /// When each running scenario started, by (feature name, scenario line).
    started: HashMap<(String, usize), SystemTime>,
}

impl<W: World> Writer<W> for Timings {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, event: parser::Result<Event<event::Cucumber<W>>>, _cli: &Self::Cli) {
        use event::{Cucumber, Feature, Rule, Scenario};

        let Ok(event) = event else { return };
        let (event, meta) = event.split();
        let (feature, scenario, ev) = match event {
            Cucumber::Feature(f, Feature::Scenario(sc, ev))
            | Cucumber::Feature(f, Feature::Rule(_, Rule::Scenario(sc, ev))) => (f, sc, ev),
            _ => return,
        };
        let key = (feature.name.clone(), scenario.position.line);
        match ev.event {
            Scenario::Started => {
                self.started.insert(key, meta.at);
            }
            Scenario::Finished => {
                if let Some(start) = self.started.remove(&key) {
                    let took = super::human_duration(meta.at.duration_since(start).unwrap_or_default());
                    println!("  ⏱ {took}  {} › {}", feature.name, scenario.name);
                }
            }
            _ => {}
        }
    }
}

impl writer::NonTransforming for Timings {}
