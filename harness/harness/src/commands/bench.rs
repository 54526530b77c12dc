//! `harness bench ...`: performance figures. Each subcommand prints progress and ends with one
//! summary line (`<name>: key=value ...`). Add a variant and a function per new benchmark.
use std::process::ExitCode;
use std::time::{Duration, Instant};

use policy_engine::{PolicyEngine, admission_review_to_request, workload};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// In-process admission: nine built-ins, replicated objects, AdmissionReviews evaluated one by one.
    Admission {
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// The Gatekeeper v3 engine with ten policy-library templates instead of the 2019 built-ins.
        #[arg(long)]
        gatekeeper: bool,
    },
    /// A full audit over the replicated objects with the nine built-ins.
    Audit {
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        /// The Gatekeeper v3 engine with ten policy-library templates instead of the 2019 built-ins.
        #[arg(long)]
        gatekeeper: bool,
    },
    /// Publishing a snapshot after one object changes (what the webhook pays per watch burst):
    /// replicate the update and prepare the engines, for pod and for ingress updates.
    Publish {
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        #[arg(long, default_value_t = 100)]
        updates: usize,
    },
    /// End to end on the local cluster: assignment PUT to an enforced denial (trigger and 2 s interval).
    Propagation(super::bench_propagation::PropagationArgs),
    /// Admission through the real API server with today's add-on enforcing ten built-ins.
    AdmissionCluster(super::bench_admission_cluster::AdmissionClusterArgs),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Admission { objects, requests, gatekeeper: false } => admission(objects, requests)?,
        BenchCommand::Admission { objects, requests, gatekeeper: true } => {
            super::bench_gatekeeper::admission(objects, requests)?
        }
        BenchCommand::Audit { objects, gatekeeper: false } => audit(objects)?,
        BenchCommand::Audit { objects, gatekeeper: true } => super::bench_gatekeeper::audit(objects)?,
        BenchCommand::Publish { objects, updates } => publish(objects, updates)?,
        BenchCommand::Propagation(args) => super::bench_propagation::run(args).await?,
        BenchCommand::AdmissionCluster(args) => super::bench_admission_cluster::run(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The nine built-ins plus `objects` replicated objects, prepared.
fn loaded_engine(objects: usize) -> anyhow::Result<PolicyEngine> {
    let mut engine = PolicyEngine::new();
    workload::load_builtins(&mut engine)?;
    let start = Instant::now();
    workload::populate(&mut engine, objects);
    let populated = start.elapsed();
    engine.prepare();
    println!(
        "replicated {} objects in {:.3}s, prepared the engines in {:.3}s",
        engine.object_count(),
        populated.as_secs_f64(),
        (start.elapsed() - populated).as_secs_f64()
    );
    Ok(engine)
}

/// Peak resident set size (VmHWM) in MiB.
pub(super) fn peak_rss_mib() -> u64 {
    peak_rss_mib_of("self")
}

/// Peak resident set size (VmHWM) in MiB of the process `/proc/<pid>` (0 if unreadable).
pub(super) fn peak_rss_mib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> u128 {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len().saturating_sub(1));
    sorted.get(idx).map_or(0, |d| d.as_micros())
}

fn admission(objects: usize, requests: usize) -> anyhow::Result<()> {
    let engine = loaded_engine(objects)?;
    time_admissions(objects, requests, "/request/resource/resource", |review| {
        let request = admission_review_to_request(&review)?;
        let violations = engine.admit(&request).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(!violations.is_empty())
    })
}

/// Times `review` over `requests` workload AdmissionReviews and prints per-kind figures (the kind
/// read at `kind_at` in the review) and the summary `admission:` line. `review` says whether the
/// request was denied. Each review is built just before use and outside the timing: a server holds
/// the requests in flight, not the whole run's (2,000 reviews would add ~28 MiB of JSON to the
/// peak RSS).
pub(super) fn time_admissions(
    objects: usize,
    requests: usize,
    kind_at: &str,
    mut review: impl FnMut(serde_json::Value) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut latencies = Vec::with_capacity(requests);
    let mut by_kind: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    let mut denied = 0;
    let mut total = Duration::ZERO;
    for i in 0..requests {
        let request = workload::review(i, objects);
        let kind = request.pointer(kind_at).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let t = Instant::now();
        let was_denied = review(request)?;
        let elapsed = t.elapsed();
        latencies.push(elapsed);
        total += elapsed;
        by_kind.entry(kind).or_default().push(elapsed);
        denied += usize::from(was_denied);
    }
    latencies.sort();
    for (kind, mut times) in by_kind {
        times.sort();
        println!("  {kind}: n={} p50_us={} p99_us={}", times.len(), percentile(&times, 0.50), percentile(&times, 0.99));
    }
    println!("requests={requests} denied={denied} total={:.3}s", total.as_secs_f64());
    println!(
        "admission: p50_us={} p99_us={} rps={} rss_mib={}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        (requests as f64 / total.as_secs_f64()) as u64,
        peak_rss_mib()
    );
    Ok(())
}

fn audit(objects: usize) -> anyhow::Result<()> {
    let engine = loaded_engine(objects)?;
    let start = Instant::now();
    let violations = engine.audit().map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    println!("violations={} rss_mib={}", violations.len(), peak_rss_mib());
    println!("audit: objects={} policies={} seconds={seconds:.3}", engine.object_count(), engine.module_ids().len());
    Ok(())
}

/// Median and p99 of `updates` changes to existing objects `first + 50 k` (one kind, by the
/// workload's layout: the kind repeats every 50 objects), each replicated and prepared.
fn publish_times(engine: &mut PolicyEngine, first: usize, objects: usize, updates: usize) -> (f64, f64) {
    let blocks = (objects / 50).max(1);
    let mut times: Vec<Duration> = (0..updates)
        .map(|k| {
            let (plural, ns, name, obj) = workload::object(first + 50 * (k % blocks));
            let t = Instant::now();
            engine.upsert_object(plural, ns.as_deref(), &name, obj);
            engine.prepare();
            t.elapsed()
        })
        .collect();
    times.sort();
    (percentile(&times, 0.50) as f64 / 1000.0, percentile(&times, 0.99) as f64 / 1000.0)
}

fn publish(objects: usize, updates: usize) -> anyhow::Result<()> {
    let mut engine = loaded_engine(objects)?;
    let (pod_p50, pod_p99) = publish_times(&mut engine, 1, objects, updates);
    let (ing_p50, ing_p99) = publish_times(&mut engine, 46, objects, updates);
    println!(
        "pod updates: p50_ms={pod_p50:.3} p99_ms={pod_p99:.3}; ingress updates: p50_ms={ing_p50:.3} p99_ms={ing_p99:.3}"
    );
    println!("publish: objects={} pod_update_ms={pod_p50:.3} ingress_update_ms={ing_p50:.3}", engine.object_count());
    Ok(())
}
