//! Compliance reporting that loses nothing.
//!
//! Every audit cycle's report goes into a bounded FIFO of unacknowledged reports; a flush sends them
//! oldest first. Each report keeps its `reportId` across attempts and sends it as `Idempotency-Key`,
//! so a resend after a lost acknowledgement (a dropped connection, a timeout after the server
//! committed) is recognised by the dataplane and counted once. Transient failures (429 with
//! `Retry-After`, 5xx, timeouts, refused or dropped connections) are retried with capped, jittered
//! back-off; when a flush's attempts run out the report stays queued for the next cycle. Only when
//! the queue is full is the oldest report dropped (counted in `reports_dropped_total`); its
//! real-time denials are not lost, because the denials cursor only advances on acknowledgement, so
//! the next report carries them again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use contracts::dataplane::{ComplianceReport, ReportAck};

use crate::backoff::{RetryPolicy, retry};
use crate::dataplane_client::DataplaneClient;
use crate::http_client::HttpError;
use crate::metrics::Metrics;

/// A report waiting for its acknowledgement, with the denials cursor it covers.
#[derive(Clone, Debug)]
struct Pending {
    report: ComplianceReport,
    denials_next: u64,
}

/// The result of one flush.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlushOutcome {
    /// Report ids acknowledged in this flush, in order.
    pub acked: Vec<String>,
    /// Reports still waiting.
    pub pending: usize,
    /// The error that stopped the flush, if any.
    pub error: Option<String>,
}

pub struct Reporter {
    dataplane: Arc<DataplaneClient>,
    policy: RetryPolicy,
    capacity: usize,
    queue: VecDeque<Pending>,
    acked_cursor: u64,
    metrics: Arc<Metrics>,
}

impl Reporter {
    pub fn new(dataplane: Arc<DataplaneClient>, policy: RetryPolicy, capacity: usize, metrics: Arc<Metrics>) -> Self {
        Self { dataplane, policy, capacity: capacity.max(1), queue: VecDeque::new(), acked_cursor: 0, metrics }
    }

    /// The denials cursor as of the last acknowledged report: the next cycle reads from here.
    pub fn acked_cursor(&self) -> u64 {
        self.acked_cursor
    }

    /// Forgets the cursor (the webhook restarted and its sequence numbers began again).
    pub fn reset_cursor(&mut self) {
        self.acked_cursor = 0;
        for p in &mut self.queue {
            p.denials_next = 0;
        }
        self.metrics.denials_cursor.store(0, Ordering::Relaxed);
    }

    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Queues `report`; returns the report dropped to make room, if the queue was full.
    pub fn enqueue(&mut self, report: ComplianceReport, denials_next: u64) -> Option<ComplianceReport> {
        let dropped = if self.queue.len() >= self.capacity {
            self.metrics.reports_dropped.fetch_add(1, Ordering::Relaxed);
            self.queue.pop_front().map(|p| p.report)
        } else {
            None
        };
        if let Some(d) = &dropped {
            tracing::error!(report_id = %d.report_id, cycle = d.cycle, "report queue full; dropping the oldest report");
        }
        self.queue.push_back(Pending { report, denials_next });
        self.metrics.reports_pending.store(self.queue.len() as u64, Ordering::Relaxed);
        dropped
    }

    /// Sends queued reports oldest first until the queue is empty or one cannot be delivered within
    /// the retry budget. A report the dataplane rejects as malformed (400/413/422) is dropped so it
    /// cannot block the queue forever.
    pub async fn flush(&mut self) -> FlushOutcome {
        let mut out = FlushOutcome::default();
        while let Some(front) = self.queue.front() {
            let report = front.report.clone();
            match self.send(&report).await {
                Ok(ack) => {
                    let p = self.queue.pop_front().expect("front exists");
                    self.acked_cursor = self.acked_cursor.max(p.denials_next);
                    self.metrics.denials_cursor.store(self.acked_cursor, Ordering::Relaxed);
                    self.metrics.reports_acked.fetch_add(1, Ordering::Relaxed);
                    if ack.duplicate {
                        self.metrics.reports_acked_as_duplicate.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(report_id = %report.report_id, cycle = report.cycle, duplicate = ack.duplicate, "report acknowledged");
                    out.acked.push(report.report_id);
                }
                Err(e) if matches!(e.status(), Some(400 | 413 | 422)) => {
                    self.queue.pop_front();
                    self.metrics.reports_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(report_id = %report.report_id, error = %e, "report rejected as malformed; dropped");
                    out.error = Some(e.to_string());
                }
                Err(e) => {
                    self.metrics.error("report");
                    tracing::warn!(report_id = %report.report_id, pending = self.queue.len(), error = %e, "report not acknowledged; kept for the next cycle");
                    out.error = Some(e.to_string());
                    break;
                }
            }
        }
        self.metrics.reports_pending.store(self.queue.len() as u64, Ordering::Relaxed);
        out.pending = self.queue.len();
        out
    }

    async fn send(&self, report: &ComplianceReport) -> Result<ReportAck, HttpError> {
        let metrics = &self.metrics;
        retry(
            self.policy,
            || {
                metrics.report_attempts.fetch_add(1, Ordering::Relaxed);
                self.dataplane.post_report_once(report)
            },
            |e, wait| {
                metrics.error("report retry");
                tracing::warn!(report_id = %report.report_id, error = %e, wait_ms = wait.as_millis() as u64, "report attempt failed; resending with the same reportId");
            },
        )
        .await
    }
}
