//! HTTPS load benchmark for the webhook: AdmissionReviews over real TLS against the running server,
//! with the nine built-in policies loaded and 10,000 replicated objects (the same setup as
//! `harness bench admission`, but through the network stack, TLS and JSON).
//!
//! ```text
//! cargo run -p policy-webhook --example https_load [-- --requests 20000 --concurrency 32 --objects 10000]
//! cargo run -p policy-webhook --example https_load -- --url https://127.0.0.1:8443 --ca-file ca.pem
//! ```
//! Without `--url`, a webhook is started in this process on a free loopback port. Every response is
//! checked (HTTP 200, uid echoed, the expected decision); anything else counts as an error. Ends
//! with `https-load: requests=<n> concurrency=<c> errors=<n> p50_us=<n> p99_us=<n> rps=<n>`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use policy_webhook::{TlsSource, WebhookOptions};
use serde_json::{Value, json};

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
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// Replicated data: pods spread over 100 namespaces, plus services and ingresses (distinct hosts),
/// so the referential ingress policy iterates a realistic set.
fn replicate(engine: &mut policy_engine::PolicyEngine, n: usize) {
    for i in 0..n {
        let ns = format!("ns-{}", i % 100);
        match i % 20 {
            0 => {
                let name = format!("ing-{i}");
                let ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"tls": [{"hosts": [format!("h{i}.example.com")]}], "rules": [{"host": format!("h{i}.example.com")}]}});
                engine.upsert_object("ingresses", Some(&ns), &name, ing);
            }
            1 => {
                let name = format!("svc-{i}");
                let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                    "spec": {"type": "ClusterIP", "ports": [{"port": 443}]}});
                engine.upsert_object("services", Some(&ns), &name, svc);
            }
            _ => {
                let name = format!("pod-{i}");
                engine.upsert_object("pods", Some(&ns), &name, compliant_pod(&ns, &name));
            }
        }
    }
}

/// The review mix: `(body with a __UID__ marker, expected allowed)`.
fn templates() -> Vec<(String, bool)> {
    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "team"}, "spec": {"rules": [{"host": "web.example.com"}]}});
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "team"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
    let cases = [
        (review_for("__UID__", "pods", "", &compliant_pod("team", "good")), true),
        (review_for("__UID__", "pods", "", &privileged_pod("team", "bad")), false),
        (review_for("__UID__", "pods", "", &compliant_pod("team-b", "good-2")), true),
        (review_for("__UID__", "ingresses", "networking.k8s.io", &ingress), false),
        (review_for("__UID__", "services", "", &service), false),
        (review_for("__UID__", "pods", "", &privileged_pod("kube-system", "system")), true),
    ];
    cases.into_iter().map(|(v, allowed)| (v.to_string(), allowed)).collect()
}

fn check(body: &Value, uid: &str, allowed: bool) -> bool {
    body["response"]["uid"] == uid && body["response"]["allowed"] == allowed
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_micros()
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
            let mut engine = engine_with_nine();
            replicate(&mut engine, args.objects);
            let options = WebhookOptions::new(TlsSource::Pem { cert: pki.cert_pem, key: pki.key_pem });
            let running = policy_webhook::start(options, None, engine).await.expect("start webhook");
            (running.base_url(), pki.ca_pem, Some(running))
        }
    };
    let client = https_client(&ca_pem);
    let url = Arc::new(format!("{base}/v1/admit"));
    let templates = Arc::new(templates());
    // Warm up: connections, TLS sessions, prepared engines.
    for (i, (body, allowed)) in templates.iter().enumerate() {
        let uid = format!("warm-{i}");
        let resp = client.post(url.as_str()).header("content-type", "application/json")
            .body(body.replace("__UID__", &uid)).send().await.expect("warm-up request");
        let v: Value = resp.json().await.expect("warm-up body");
        assert!(check(&v, &uid, *allowed), "warm-up {i} gave {v}");
    }

    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, url, templates, next, errors) =
                (client.clone(), url.clone(), templates.clone(), next.clone(), errors.clone());
            let total = args.requests;
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(total / 16);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break latencies;
                    }
                    let (body, allowed) = &templates[i % templates.len()];
                    let uid = format!("load-{i}");
                    let t = Instant::now();
                    let result = async {
                        let resp = client.post(url.as_str()).header("content-type", "application/json")
                            .body(body.replace("__UID__", &uid)).send().await.ok()?;
                        if resp.status() != 200 {
                            return None;
                        }
                        resp.json::<Value>().await.ok()
                    }
                    .await;
                    latencies.push(t.elapsed());
                    if !result.is_some_and(|v| check(&v, &uid, *allowed)) {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.requests);
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    let n = latencies.len();
    println!(
        "https-load: requests={n} concurrency={} errors={} p50_us={} p99_us={} rps={}",
        args.concurrency,
        errors.load(Ordering::Relaxed),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        (n as f64 / wall.as_secs_f64()).round() as u64,
    );
    if let Some(running) = running {
        running.shutdown().await;
    }
    if errors.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
}
