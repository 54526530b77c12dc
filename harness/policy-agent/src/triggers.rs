//! The two loops: each runs its cycle on an interval tick or on demand, one cycle at a time.
//!
//! A trigger that arrives while a cycle runs waits for the *next* cycle (which starts right after),
//! so `POST /trigger/...` always observes state newer than the request; triggers that pile up meanwhile
//! share that one cycle. One task per kind means cycles of the same kind can never overlap.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use crate::metrics::{CycleKind, Metrics};

/// The answer to a trigger (contracts §6).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct CycleOutcome {
    pub cycle: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// A cycle the loop can run. `Ok` carries a `key=value` summary for the completion log line.
pub trait Cycle: Send + Sync + 'static {
    fn kind(&self) -> CycleKind;
    fn run(&self, cycle: u64) -> impl Future<Output = Result<String, String>> + Send;

    /// The cycle someone asked for (`POST /trigger/...`); by default the same as the periodic one.
    /// The current add-on's audit asks Gatekeeper for a fresh audit here.
    fn run_triggered(&self, cycle: u64) -> impl Future<Output = Result<String, String>> + Send {
        self.run(cycle)
    }
}

/// Handle to a running loop.
#[derive(Clone)]
pub struct CycleLoop {
    tx: mpsc::Sender<oneshot::Sender<CycleOutcome>>,
}

impl CycleLoop {
    /// Spawns the loop. The first interval tick fires after `first_delay`.
    pub fn spawn<C: Cycle>(cycle: Arc<C>, interval: Duration, first_delay: Duration, metrics: Arc<Metrics>) -> Self {
        let (tx, mut rx) = mpsc::channel::<oneshot::Sender<CycleOutcome>>(64);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first_delay, interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                let mut waiters = Vec::new();
                tokio::select! {
                    _ = ticks.tick() => {}
                    req = rx.recv() => match req {
                        Some(reply) => waiters.push(reply),
                        None => return,
                    },
                }
                while let Ok(reply) = rx.try_recv() {
                    waiters.push(reply);
                }
                let outcome = run_one(&*cycle, !waiters.is_empty(), &metrics).await;
                for w in waiters {
                    let _ = w.send(outcome.clone());
                }
            }
        });
        Self { tx }
    }

    /// Runs a cycle now (after any running one) and waits for its outcome.
    pub async fn trigger(&self) -> Option<CycleOutcome> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(reply).await.ok()?;
        rx.await.ok()
    }
}

async fn run_one<C: Cycle>(cycle: &C, triggered: bool, metrics: &Metrics) -> CycleOutcome {
    let kind = cycle.kind();
    let number = metrics.cycle_stats(kind).cycles + 1;
    let started = Instant::now();
    let result = if triggered { cycle.run_triggered(number).await } else { cycle.run(number).await };
    let ms = started.elapsed().as_millis() as u64;
    let n = metrics.record_cycle(kind, &result, ms);
    match &result {
        Ok(summary) => tracing::info!(
            kind = kind.as_str(),
            "{} cycle completed cycle={n} {summary} duration_ms={ms}",
            kind.as_str()
        ),
        Err(e) => {
            tracing::warn!(kind = kind.as_str(), "{} cycle failed cycle={n} duration_ms={ms} error={e}", kind.as_str())
        }
    }
    CycleOutcome { cycle: n, ok: result.is_ok(), error: result.err() }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records which entry point each cycle went through.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);

    impl Cycle for Recorder {
        fn kind(&self) -> CycleKind {
            CycleKind::Audit
        }

        async fn run(&self, _cycle: u64) -> Result<String, String> {
            self.0.lock().unwrap().push("tick");
            Ok(String::new())
        }

        async fn run_triggered(&self, _cycle: u64) -> Result<String, String> {
            self.0.lock().unwrap().push("trigger");
            Ok(String::new())
        }
    }

    #[tokio::test]
    async fn a_triggered_cycle_runs_the_triggered_entry_point() {
        let recorder = Arc::new(Recorder::default());
        let metrics = Arc::new(Metrics::default());
        let lp = CycleLoop::spawn(recorder.clone(), Duration::from_secs(3600), Duration::ZERO, metrics.clone());
        // The first tick fires at once; wait for it before triggering.
        let start = Instant::now();
        while metrics.cycle_stats(CycleKind::Audit).cycles == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "the first tick never ran");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let outcome = lp.trigger().await.unwrap();
        assert!(outcome.ok);
        assert_eq!(*recorder.0.lock().unwrap(), ["tick", "trigger"]);
    }
}
