//! Counters behind `/metrics` (Prometheus text) and `/status` (JSON). Plain atomics and small maps:
//! the agent exports a dozen numbers, which does not justify a metrics framework in a 32 MiB budget.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The two loops, as the trigger API names them (`contracts::agent::Cycle`; here `CycleKind`, beside
/// the [`crate::triggers::Cycle`] trait that runs one).
pub use contracts::agent::Cycle as CycleKind;

/// What one loop has done so far.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleStats {
    pub cycles: u64,
    pub ok_cycles: u64,
    pub failed_cycles: u64,
    pub last_ok: Option<bool>,
    pub last_error: Option<String>,
    pub last_summary: Option<String>,
    pub last_success_unix: Option<u64>,
    pub last_duration_ms: Option<u64>,
}

#[derive(Default)]
pub struct Metrics {
    refresh: Mutex<CycleStats>,
    audit: Mutex<CycleStats>,
    errors: Mutex<BTreeMap<String, u64>>,
    pub configmaps: AtomicU64,
    pub reports_acked: AtomicU64,
    pub reports_acked_as_duplicate: AtomicU64,
    pub reports_dropped: AtomicU64,
    pub reports_pending: AtomicU64,
    pub report_attempts: AtomicU64,
    pub denials_cursor: AtomicU64,
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Metrics {
    fn stats(&self, kind: CycleKind) -> &Mutex<CycleStats> {
        match kind {
            CycleKind::Refresh => &self.refresh,
            CycleKind::Audit => &self.audit,
        }
    }

    pub fn cycle_stats(&self, kind: CycleKind) -> CycleStats {
        self.stats(kind).lock().unwrap().clone()
    }

    /// Records a finished cycle; returns its number (1-based, failed cycles count too).
    pub fn record_cycle(&self, kind: CycleKind, result: &Result<String, String>, duration_ms: u64) -> u64 {
        let mut s = self.stats(kind).lock().unwrap();
        s.cycles += 1;
        s.last_duration_ms = Some(duration_ms);
        s.last_ok = Some(result.is_ok());
        match result {
            Ok(summary) => {
                s.ok_cycles += 1;
                s.last_summary = Some(summary.clone());
                s.last_error = None;
                s.last_success_unix = Some(unix_now());
            }
            Err(e) => {
                s.failed_cycles += 1;
                s.last_error = Some(e.clone());
            }
        }
        s.cycles
    }

    /// Counts one error of `kind` (`token`, `assignments`, `policy download`, `placeholder`, `kube`,
    /// `webhook audit`, `report`, …).
    pub fn error(&self, kind: &str) {
        *self.errors.lock().unwrap().entry(kind.replace(' ', "_")).or_default() += 1;
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().unwrap().clone()
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, labels: &str, value: u64| {
            out.push_str(&format!("policy_agent_{name}{labels} {value}\n"));
        };
        for kind in [CycleKind::Refresh, CycleKind::Audit] {
            let s = self.cycle_stats(kind);
            let k = kind.as_str();
            line("cycles_total", &format!("{{kind=\"{k}\",result=\"ok\"}}"), s.ok_cycles);
            line("cycles_total", &format!("{{kind=\"{k}\",result=\"error\"}}"), s.failed_cycles);
            line("last_success_timestamp_seconds", &format!("{{kind=\"{k}\"}}"), s.last_success_unix.unwrap_or(0));
            line("last_cycle_duration_milliseconds", &format!("{{kind=\"{k}\"}}"), s.last_duration_ms.unwrap_or(0));
        }
        for (kind, n) in self.errors() {
            line("errors_total", &format!("{{kind=\"{kind}\"}}"), n);
        }
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        line("configmaps", "", get(&self.configmaps));
        line("reports_acked_total", "", get(&self.reports_acked));
        line("reports_acked_as_duplicate_total", "", get(&self.reports_acked_as_duplicate));
        line("reports_dropped_total", "", get(&self.reports_dropped));
        line("report_attempts_total", "", get(&self.report_attempts));
        line("reports_pending", "", get(&self.reports_pending));
        line("denials_cursor", "", get(&self.denials_cursor));
        out
    }

    /// The `/status` document.
    pub fn status(&self) -> serde_json::Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "refresh": self.cycle_stats(CycleKind::Refresh),
            "audit": self.cycle_stats(CycleKind::Audit),
            "errors": self.errors(),
            "configmaps": get(&self.configmaps),
            "reports": {
                "acked": get(&self.reports_acked),
                "ackedAsDuplicate": get(&self.reports_acked_as_duplicate),
                "dropped": get(&self.reports_dropped),
                "pending": get(&self.reports_pending),
                "attempts": get(&self.report_attempts),
            },
            "denialsCursor": get(&self.denials_cursor),
        })
    }
}
