//! `GET /readyz`: the webhook is ready once its policy reflects the cluster, that is when the
//! ConstraintTemplates have been listed, the constraints of every template found by that first list
//! have been listed, and the `Config` has been listed (design point 2). Until then an admission
//! would be judged, and an audit reported, against a partial policy.
//!
//! Later relists do not make the webhook unready again: they only refresh what it already has.

use std::collections::BTreeSet;

use serde::Serialize;
use tokio::sync::watch;

/// What `/readyz` answers (and the audit waits for).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessReport {
    pub ready: bool,
    pub templates_listed: bool,
    /// Constraint kinds from the first template list whose constraints are not listed yet.
    pub constraints_pending: Vec<String>,
    pub config_listed: bool,
}

#[derive(Debug, Default, Clone)]
struct Progress {
    /// `None` until the first template list; then the kinds it found.
    awaited_kinds: Option<BTreeSet<String>>,
    listed_kinds: BTreeSet<String>,
    config_listed: bool,
}

impl Progress {
    fn report(&self) -> ReadinessReport {
        let pending: Vec<String> =
            self.awaited_kinds.iter().flatten().filter(|k| !self.listed_kinds.contains(*k)).cloned().collect();
        let templates_listed = self.awaited_kinds.is_some();
        ReadinessReport {
            ready: templates_listed && pending.is_empty() && self.config_listed,
            templates_listed,
            constraints_pending: pending,
            config_listed: self.config_listed,
        }
    }
}

/// The watchers mark their first lists here; readers ask for the report or wait for readiness.
#[derive(Debug)]
pub struct Readiness {
    progress: watch::Sender<Progress>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self { progress: watch::Sender::new(Progress::default()) }
    }
}

impl Readiness {
    /// Ready from the start: a webhook without an API server serves the policy it was given.
    pub fn ready() -> Self {
        let progress = Progress { awaited_kinds: Some(BTreeSet::new()), config_listed: true, ..Default::default() };
        Self { progress: watch::Sender::new(progress) }
    }

    /// The first template list completed and found these kinds (later calls are ignored).
    pub fn templates_listed(&self, kinds: impl IntoIterator<Item = String>) {
        self.progress.send_if_modified(|p| {
            if p.awaited_kinds.is_some() {
                return false;
            }
            p.awaited_kinds = Some(kinds.into_iter().collect());
            true
        });
    }

    /// The constraints of `kind` were listed (or its template went away: nothing left to wait for).
    pub fn constraints_listed(&self, kind: &str) {
        self.progress.send_if_modified(|p| p.listed_kinds.insert(kind.to_string()));
    }

    pub fn config_listed(&self) {
        self.progress.send_if_modified(|p| !std::mem::replace(&mut p.config_listed, true));
    }

    pub fn report(&self) -> ReadinessReport {
        self.progress.borrow().report()
    }

    /// Returns once ready.
    pub async fn wait(&self) {
        let mut progress = self.progress.subscribe();
        // The sender lives in `self`, so the channel cannot close while this borrows it.
        let _ = progress.wait_for(|p| p.report().ready).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_after_templates_their_constraints_and_the_config() {
        let r = Readiness::default();
        assert!(!r.report().ready);
        r.constraints_listed("B");
        r.templates_listed(["A".to_string(), "B".to_string()]);
        r.config_listed();
        assert_eq!(r.report().constraints_pending, vec!["A".to_string()]);
        assert!(!r.report().ready);
        r.constraints_listed("A");
        assert!(r.report().ready);
        r.templates_listed(["C".to_string()]);
        assert!(r.report().ready, "a relist does not make the webhook unready");
        assert!(Readiness::ready().report().ready);
    }
}
