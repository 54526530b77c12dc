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
                let outcome = run_one(&*cycle, &metrics).await;
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

async fn run_one<C: Cycle>(cycle: &C, metrics: &Metrics) -> CycleOutcome {
    let kind = cycle.kind();
    let number = metrics.cycle_stats(kind).cycles + 1;
    let started = Instant::now();
    let result = cycle.run(number).await;
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
