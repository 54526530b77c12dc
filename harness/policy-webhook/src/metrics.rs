//! Prometheus metrics for `GET /metrics`, in the text exposition format (version 0.0.4).
//!
//! The names mirror Gatekeeper's (`gatekeeper_validation_request_count`, `…_duration_seconds`,
//! `gatekeeper_violations`) with a `policy_webhook_` prefix, so dashboards and expectations written
//! for Gatekeeper carry over. The format is written by hand: a handful of atomics needs no registry,
//! and recording stays lock-free on the admission hot path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How an admission request ended; the `admission_status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No violations.
    Allow,
    /// At least one violation: `allowed: false`.
    Deny,
    /// Evaluation failed and the request was allowed anyway (Gatekeeper v2's `policy check failed`).
    FailOpen,
    /// The body was not a usable AdmissionReview: HTTP 400.
    BadRequest,
}

impl Decision {
    const ALL: [Decision; 4] = [Decision::Allow, Decision::Deny, Decision::FailOpen, Decision::BadRequest];

    /// The label value (and the `decision` field of the decision log).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::FailOpen => "fail_open",
            Decision::BadRequest => "bad_request",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds (seconds) of the request-duration buckets: 50 µs to 10 s, dense below 10 ms where
/// in-process evaluation lands, up to Gatekeeper's extended 10 s.
const BUCKETS: [f64; 16] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf` only.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = BUCKETS.iter().position(|&le| secs <= le).unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_string()]).enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{label},le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{label}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{label}}} {}", self.count.load(Relaxed));
    }
}

/// Every metric the webhook exports. Shared by reference; all methods take `&self`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; 4],
    durations: [Histogram; 4],
    admission_violations: AtomicU64,
    policy_check_failed: AtomicU64,
    loaded_modules: AtomicU64,
    module_errors: AtomicU64,
    audit_violations: AtomicU64,
    audit_runs: AtomicU64,
    replicated_objects: AtomicU64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one `/v1/admit` request with its outcome, latency and number of violations found.
    pub fn record_admission(&self, decision: Decision, elapsed: Duration, violations: usize) {
        self.requests[decision.index()].fetch_add(1, Relaxed);
        self.durations[decision.index()].observe(elapsed);
        self.admission_violations.fetch_add(violations as u64, Relaxed);
        if decision == Decision::FailOpen {
            self.policy_check_failed.fetch_add(1, Relaxed);
        }
    }

    /// Requests counted so far with this outcome.
    pub fn requests(&self, decision: Decision) -> u64 {
        self.requests[decision.index()].load(Relaxed)
    }

    /// Evaluations that failed open.
    pub fn policy_check_failed(&self) -> u64 {
        self.policy_check_failed.load(Relaxed)
    }

    /// Sets the loaded-module and rejected-module gauges (after every ConfigMap change).
    pub fn set_modules(&self, loaded: usize, errors: usize) {
        self.loaded_modules.store(loaded as u64, Relaxed);
        self.module_errors.store(errors as u64, Relaxed);
    }

    /// Sets the replicated-object gauge.
    pub fn set_replicated_objects(&self, n: usize) {
        self.replicated_objects.store(n as u64, Relaxed);
    }

    /// Records the result of one `/v1/audit` run.
    pub fn record_audit(&self, violations: usize) {
        self.audit_violations.store(violations as u64, Relaxed);
        self.audit_runs.fetch_add(1, Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let p = "policy_webhook";
        header(&mut out, &format!("{p}_validation_request_count"), "counter", "Admission requests by outcome.");
        for d in Decision::ALL {
            let n = self.requests[d.index()].load(Relaxed);
            let _ = writeln!(out, "{p}_validation_request_count{{admission_status=\"{}\"}} {n}", d.as_str());
        }
        let name = format!("{p}_validation_request_duration_seconds");
        header(&mut out, &name, "histogram", "Time to answer an admission request, by outcome.");
        for d in Decision::ALL {
            self.durations[d.index()].render(&mut out, &name, &format!("admission_status=\"{}\"", d.as_str()));
        }
        let counters = [
            ("admission_violations_total", "Violations found in admission requests.", &self.admission_violations),
            (
                "policy_check_failed_total",
                "Evaluations that failed and were allowed (fail open).",
                &self.policy_check_failed,
            ),
            ("audit_runs_total", "Audit queries served.", &self.audit_runs),
        ];
        for (metric, help, value) in counters {
            simple(&mut out, &format!("{p}_{metric}"), "counter", help, value.load(Relaxed));
        }
        let gauges = [
            ("loaded_modules", "Rego modules currently loaded.", &self.loaded_modules),
            ("module_errors", "ConfigMap keys whose Rego was rejected.", &self.module_errors),
            ("violations", "Violations found by the most recent audit.", &self.audit_violations),
            ("replicated_objects", "Cluster objects replicated into the data tree.", &self.replicated_objects),
        ];
        for (metric, help, value) in gauges {
            simple(&mut out, &format!("{p}_{metric}"), "gauge", help, value.load(Relaxed));
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn simple(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, prefix: &str) -> f64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line {prefix}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn counts_requests_and_fail_opens_by_outcome() {
        let m = Metrics::new();
        m.record_admission(Decision::Allow, Duration::from_micros(80), 0);
        m.record_admission(Decision::Deny, Duration::from_micros(300), 3);
        m.record_admission(Decision::FailOpen, Duration::from_millis(2), 0);
        let text = m.render();
        let count = "policy_webhook_validation_request_count";
        assert_eq!(line_value(&text, &format!("{count}{{admission_status=\"allow\"}}")), 1.0);
        assert_eq!(line_value(&text, &format!("{count}{{admission_status=\"deny\"}}")), 1.0);
        assert_eq!(line_value(&text, &format!("{count}{{admission_status=\"fail_open\"}}")), 1.0);
        assert_eq!(line_value(&text, "policy_webhook_policy_check_failed_total "), 1.0);
        assert_eq!(line_value(&text, "policy_webhook_admission_violations_total "), 3.0);
        assert_eq!(m.policy_check_failed(), 1);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let m = Metrics::new();
        for micros in [40, 90, 90, 20_000_000] {
            m.record_admission(Decision::Allow, Duration::from_micros(micros), 0);
        }
        let text = m.render();
        let h = "policy_webhook_validation_request_duration_seconds";
        assert_eq!(line_value(&text, &format!("{h}_bucket{{admission_status=\"allow\",le=\"0.00005\"}}")), 1.0);
        assert_eq!(line_value(&text, &format!("{h}_bucket{{admission_status=\"allow\",le=\"0.0001\"}}")), 3.0);
        assert_eq!(line_value(&text, &format!("{h}_bucket{{admission_status=\"allow\",le=\"10\"}}")), 3.0);
        assert_eq!(line_value(&text, &format!("{h}_bucket{{admission_status=\"allow\",le=\"+Inf\"}}")), 4.0);
        assert_eq!(line_value(&text, &format!("{h}_count{{admission_status=\"allow\"}}")), 4.0);
        assert!((line_value(&text, &format!("{h}_sum{{admission_status=\"allow\"}}")) - 20.00022).abs() < 1e-9);
    }

    #[test]
    fn gauges_and_type_lines_are_present() {
        let m = Metrics::new();
        m.set_modules(9, 1);
        m.record_audit(4);
        m.set_replicated_objects(10_000);
        let text = m.render();
        assert_eq!(line_value(&text, "policy_webhook_loaded_modules "), 9.0);
        assert_eq!(line_value(&text, "policy_webhook_module_errors "), 1.0);
        assert_eq!(line_value(&text, "policy_webhook_violations "), 4.0);
        assert_eq!(line_value(&text, "policy_webhook_replicated_objects "), 10_000.0);
        assert!(text.contains("# TYPE policy_webhook_validation_request_duration_seconds histogram"));
        // Every sample line belongs to a declared metric family.
        let families: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
        for sample in text.lines().filter(|l| !l.starts_with('#')) {
            let name = sample.split(['{', ' ']).next().unwrap();
            assert!(families.iter().any(|f| name.starts_with(f)), "undeclared sample {sample}");
        }
    }
}
