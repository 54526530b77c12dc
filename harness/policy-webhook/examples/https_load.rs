//! HTTPS load benchmark for the webhook: AdmissionReviews over real TLS against the running server,
//! with the nine built-in policies loaded and 10,000 replicated objects. The cluster and the traffic
//! are `policy_engine::workload`, the same as `harness bench admission`, so the difference between
//! the two figures is what the network stack, TLS, JSON and the server add.
//!
//! ```text
//! cargo run -p policy-webhook --example https_load [-- --requests 20000 --concurrency 32 --objects 10000]
//! cargo run -p policy-webhook --example https_load -- --url https://127.0.0.1:8443 --ca-file ca.pem
//! ```
//! Without `--url`, a webhook is started in this process on a free loopback port. Every response is
//! checked (HTTP 200, uid echoed, a decision, a message when denied) and every 50th decision is
//! compared with the engine in-process afterwards; anything else counts as an error. Ends
//! with `https-load: requests=<n> concurrency=<c> errors=<n> p50_us=<n> p99_us=<n> rps=<n>`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{https_client, test_pki};
use policy_engine::{PolicyEngine, workload};
use policy_webhook::{TlsSource, WebhookOptions};
use serde_json::Value;

struct Args {
    requests: usize,
    concurrency: usize,
    objects: usize,
    url: Option<String>,
    ca_file: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args { requests: 20_000, concurrency: 32, objects: 10_000, url: None, ca_file: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--requests" => args.requests = value().parse().expect("--requests N"),
            "--concurrency" => args.concurrency = value().parse().expect("--concurrency N"),
            "--objects" => args.objects = value().parse().expect("--objects N"),
            "--url" => args.url = Some(value()),
            "--ca-file" => args.ca_file = Some(value()),
            other => {
                let code = if other == "--help" || other == "-h" { 0 } else { 2 };
                if code == 2 {
                    eprintln!("https_load: unknown argument {other}");
                }
                eprintln!(
                    "usage: https_load [--requests N] [--concurrency N] [--objects N] [--url URL --ca-file FILE]"
                );
                std::process::exit(code);
            }
        }
    }
    args
}

/// The benchmark traffic (`policy_engine::workload`), one serialised body per request.
fn bodies(n: usize, replicated: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let review = workload::review(i, replicated);
            (review["request"]["uid"].as_str().unwrap_or_default().to_string(), review.to_string())
        })
        .collect()
}

/// A usable answer: HTTP 200 already checked, the uid echoed, a decision, and a message when denied.
fn well_formed(body: &Value, uid: &str) -> bool {
    let r = &body["response"];
    r["uid"] == uid
        && match r["allowed"].as_bool() {
            Some(true) => true,
            Some(false) => r["status"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            None => false,
        }
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_micros()
}

/// One request: `Some(allowed)` for a well-formed answer, `None` for any failure.
async fn send(client: &reqwest::Client, url: &str, uid: &str, body: &str) -> Option<bool> {
    let resp = client.post(url).header("content-type", "application/json").body(body.to_string()).send().await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    let v: Value = resp.json().await.ok()?;
    well_formed(&v, uid).then(|| v["response"]["allowed"] == true)
}

#[tokio::main]
async fn main() {
    pki::install_ring_provider();
    let args = parse_args();
    let (base, ca_pem, running) = match &args.url {
        Some(url) => {
            let ca = std::fs::read_to_string(args.ca_file.as_ref().expect("--url needs --ca-file")).unwrap();
            (url.trim_end_matches('/').to_string(), ca, None)
        }
        None => {
            let pki = test_pki();
            let mut engine = PolicyEngine::new();
            workload::load_builtins(&mut engine).expect("built-in policies load");
            workload::populate(&mut engine, args.objects);
            let options = WebhookOptions::new(TlsSource::Pem { cert: pki.cert_pem, key: pki.key_pem });
            let running = policy_webhook::start(options, None, engine).await.expect("start webhook");
            (running.base_url(), pki.ca_pem, Some(running))
        }
    };
    let client = https_client(&ca_pem);
    let url = Arc::new(format!("{base}/v1/admit"));
    let bodies = Arc::new(bodies(args.requests, args.objects));
    // Warm up connections and TLS sessions with requests outside the measured set.
    for (uid, body) in self::bodies(args.concurrency, args.objects).iter() {
        let body = body.replace(uid.as_str(), &format!("warm-{uid}"));
        send(&client, &url, &format!("warm-{uid}"), &body).await.expect("warm-up request answered");
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, url, bodies, next) = (client.clone(), url.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut results = Vec::with_capacity(bodies.len() / 16);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((uid, body)) = bodies.get(i) else { break results };
                    let t = Instant::now();
                    let answer = send(&client, &url, uid, body).await;
                    results.push((i, t.elapsed(), answer));
                }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(args.requests);
    for w in workers {
        results.extend(w.await.expect("worker"));
    }
    let wall = started.elapsed();
    let mut errors = results.iter().filter(|r| r.2.is_none()).count();

    // Spot-check decisions against the same engine in-process (every 50th request, after timing).
    if let Some(running) = &running {
        let engine = running.state().engine.snapshot();
        for (i, _, answer) in results.iter().filter(|r| r.0 % 50 == 0) {
            let request = policy_engine::admission_review_to_request(&workload::review(*i, args.objects)).unwrap();
            let expected = engine.admit(&request).map(|v| v.is_empty()).unwrap_or(true);
            if answer.is_some_and(|allowed| allowed != expected) {
                eprintln!("request {i}: webhook said allowed={answer:?}, engine says {expected}");
                errors += 1;
            }
        }
    }
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.1).collect();
    latencies.sort_unstable();
    let n = latencies.len();
    println!(
        "https-load: requests={n} concurrency={} errors={errors} p50_us={} p99_us={} rps={}",
        args.concurrency,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        (n as f64 / wall.as_secs_f64()).round() as u64,
    );
    if let Some(running) = running {
        running.shutdown().await;
    }
    if errors > 0 {
        std::process::exit(1);
    }
}
