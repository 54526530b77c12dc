//! The real-time denial feed behind `GET /v1/denials?since=<seq>` (contracts §5).
//!
//! Gatekeeper v2 kept no record of what it denied; the 2019 add-on learnt about admission denials only
//! through the next audit. The policy agent of this harness reports them as they happen, so the webhook
//! keeps the most recent ones in a bounded ring buffer: memory stays constant however many requests
//! are denied, and an agent that polls too slowly loses the oldest entries rather than the webhook
//! growing without bound. Sequence numbers are global and never reused, so a cursor stays valid across
//! evictions. The bodies are [`contracts::webhook`]'s.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::Utc;
use contracts::webhook::{Denial, DenialPage, DeniedViolation, ResourceRef};

/// What the caller supplies for a new denial; the buffer assigns `seq` and `time`.
#[derive(Debug, Clone)]
pub struct NewDenial {
    pub uid: String,
    pub operation: String,
    pub resource: ResourceRef,
    pub violations: Vec<DeniedViolation>,
}

/// A bounded, thread-safe ring buffer of denials with monotonically increasing sequence numbers
/// (starting at 1, so `since=0` means "everything still held").
#[derive(Debug)]
pub struct DenialLog {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<Denial>,
}

impl DenialLog {
    /// A log holding at most `capacity` denials (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            inner: Mutex::new(Inner { next_seq: 1, entries: VecDeque::with_capacity(capacity.min(4096)) }),
        }
    }

    /// Appends a denial, evicting the oldest when full, and returns its sequence number.
    pub fn record(&self, denial: NewDenial) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = inner.next_seq;
        inner.next_seq += 1;
        if inner.entries.len() == self.capacity {
            inner.entries.pop_front();
        }
        inner.entries.push_back(Denial {
            seq,
            time: Utc::now(),
            uid: denial.uid,
            operation: denial.operation,
            resource: denial.resource,
            violations: denial.violations,
        });
        seq
    }

    /// Every held denial with `seq >= since`, oldest first, at most `limit` of them. `next` is one past
    /// the last returned sequence number (or the current end when nothing is returned), so passing it
    /// back never repeats or skips an entry that is still held.
    pub fn since(&self, since: u64, limit: usize) -> DenialPage {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let denials: Vec<Denial> = inner.entries.iter().filter(|d| d.seq >= since).take(limit).cloned().collect();
        let next = match denials.last() {
            Some(last) => last.seq + 1,
            // Nothing held at or after `since`: the end of the log is the cursor. A cursor from the
            // future (a restarted webhook) is pulled back here, so the agent resynchronises.
            None => inner.next_seq,
        };
        DenialPage { next, denials }
    }

    /// How many denials were ever recorded (including evicted ones).
    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).next_seq - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(name: &str) -> NewDenial {
        NewDenial {
            uid: format!("uid-{name}"),
            operation: "CREATE".into(),
            resource: ResourceRef { kind: "pods".into(), namespace: "team".into(), name: name.into() },
            violations: vec![DeniedViolation { id: "p1".into(), message: "no".into() }],
        }
    }

    #[test]
    fn cursor_walks_forward_without_repeats() {
        let log = DenialLog::new(10);
        assert_eq!(log.since(0, 100), DenialPage { next: 1, denials: vec![] });
        log.record(denial("a"));
        log.record(denial("b"));
        let page = log.since(0, 100);
        assert_eq!(page.denials.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(page.next, 3);
        let again = log.since(page.next, 100);
        assert!(again.denials.is_empty());
        assert_eq!(again.next, 3);
        log.record(denial("c"));
        let third = log.since(again.next, 100);
        assert_eq!(third.denials.len(), 1);
        assert_eq!(third.denials[0].resource.name, "c");
        assert_eq!(third.next, 4);
    }

    #[test]
    fn evicts_oldest_when_full_and_keeps_sequence_numbers() {
        let log = DenialLog::new(3);
        for i in 0..5 {
            log.record(denial(&format!("p{i}")));
        }
        let page = log.since(0, 100);
        assert_eq!(page.denials.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(log.total(), 5);
    }

    #[test]
    fn limit_pages_through_the_buffer() {
        let log = DenialLog::new(10);
        for i in 0..5 {
            log.record(denial(&format!("p{i}")));
        }
        let first = log.since(0, 2);
        assert_eq!(first.denials.len(), 2);
        let second = log.since(first.next, 2);
        assert_eq!(second.denials[0].seq, 3);
    }

    #[test]
    fn a_cursor_from_the_future_does_not_move_backwards() {
        let log = DenialLog::new(10);
        log.record(denial("a"));
        assert_eq!(log.since(50, 10).next, 2);
    }

    #[test]
    fn serialises_to_the_contract_shape() {
        let log = DenialLog::new(2);
        log.record(denial("a"));
        let body = serde_json::to_value(log.since(0, 10)).unwrap();
        let d = &body["denials"][0];
        assert_eq!(body["next"], 2);
        assert_eq!(d["seq"], 1);
        assert_eq!(d["uid"], "uid-a");
        assert_eq!(d["operation"], "CREATE");
        assert_eq!(d["resource"], serde_json::json!({"kind":"pods","namespace":"team","name":"a"}));
        assert_eq!(d["violations"], serde_json::json!([{"id":"p1","message":"no"}]));
        assert!(d["time"].as_str().unwrap().ends_with('Z'));
    }
}
