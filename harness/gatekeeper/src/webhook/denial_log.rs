//! The real-time admission results behind `GET /v1/denials?since=<seq>` (design point 4): every
//! `deny` and `warn` result the webhook returns, kept in a bounded ring so memory stays constant
//! however much is denied. Sequence numbers are global and never reused, so a reader's cursor stays
//! valid across evictions; a reader that polls too slowly loses the oldest entries.
//!
//! The cursor rules are the 2019 webhook's ([`policy_webhook::denials::DenialLog`]); its log holds
//! that generation's entry type ([`contracts::webhook::Denial`]), so this one holds Gatekeeper's
//! ([`contracts::gatekeeper::Denial`]).

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::Utc;
use contracts::gatekeeper::{Denial, DenialPage, ObjectKey};

/// How many results the log keeps unless told otherwise.
pub const DEFAULT_DENIALS_CAPACITY: usize = 10_000;
/// Most results one `/v1/denials` answer carries; the reader follows `next` for more.
pub const DENIALS_PAGE: usize = 1000;

/// What the admission handler supplies; the log assigns `seq` and `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDenial {
    pub constraint_kind: String,
    pub constraint_name: String,
    pub enforcement_action: String,
    pub object: ObjectKey,
    pub message: String,
}

/// A bounded, thread-safe ring of admission results, sequence numbers starting at 1 (so
/// `since=0` means "everything still held").
#[derive(Debug)]
pub struct DenialLog {
    capacity: usize,
    inner: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    next_seq: u64,
    entries: VecDeque<Denial>,
}

impl Default for DenialLog {
    fn default() -> Self {
        Self::new(DEFAULT_DENIALS_CAPACITY)
    }
}

impl DenialLog {
    /// A log holding at most `capacity` results (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let entries = VecDeque::with_capacity(capacity.min(4096));
        Self { capacity, inner: Mutex::new(Ring { next_seq: 1, entries }) }
    }

    /// Appends results of one request (one sequence number each), evicting the oldest when full.
    pub fn record(&self, results: impl IntoIterator<Item = NewDenial>) {
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let time = Utc::now();
        for new in results {
            let seq = ring.next_seq;
            ring.next_seq += 1;
            if ring.entries.len() == self.capacity {
                ring.entries.pop_front();
            }
            ring.entries.push_back(Denial {
                seq,
                time,
                constraint_kind: new.constraint_kind,
                constraint_name: new.constraint_name,
                enforcement_action: new.enforcement_action,
                object: new.object,
                message: new.message,
            });
        }
    }

    /// Held results with `seq >= since`, oldest first, at most `limit`. `next` is one past the last
    /// returned (or the end of the log when nothing is returned, which also pulls a cursor from a
    /// restarted process back), so passing it back never repeats or skips a held entry.
    pub fn since(&self, since: u64, limit: usize) -> DenialPage {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let denials: Vec<Denial> = ring.entries.iter().filter(|d| d.seq >= since).take(limit).cloned().collect();
        let next = denials.last().map_or(ring.next_seq, |last| last.seq + 1);
        DenialPage { next, denials }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str) -> NewDenial {
        NewDenial {
            constraint_kind: "K8sDisallowedImage".into(),
            constraint_name: "no-nginx".into(),
            enforcement_action: "deny".into(),
            object: ObjectKey { version: "v1".into(), kind: "Pod".into(), name: name.into(), ..Default::default() },
            message: "no".into(),
        }
    }

    #[test]
    fn the_cursor_walks_forward_without_repeats() {
        let log = DenialLog::new(10);
        assert_eq!(log.since(0, 100), DenialPage { next: 1, denials: vec![] });
        log.record([result("a"), result("b")]);
        let page = log.since(0, 100);
        assert_eq!(page.denials.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(log.since(page.next, 100), DenialPage { next: 3, denials: vec![] });
        log.record([result("c")]);
        let third = log.since(3, 100);
        assert_eq!((third.denials[0].object.name.as_str(), third.next), ("c", 4));
        assert_eq!(log.since(2, 1).denials[0].seq, 2);
    }

    #[test]
    fn the_oldest_go_first_and_a_future_cursor_is_pulled_back() {
        let log = DenialLog::new(3);
        log.record((0..5).map(|i| result(&format!("p{i}"))));
        assert_eq!(log.since(0, 100).denials.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(log.since(50, 10).next, 6);
    }
}
