//! ARM request throughput of azure-sim on loopback (a benchmark, not a test).
//!
//! Starts a simulator (HTTPS unless `--http`), creates a resource group, then issues `--requests`
//! authenticated `GET …/resourceGroups/{rg}` calls from `--concurrency` workers sharing one
//! keep-alive client, after a warm-up. Every call goes through the full ARM path: fault layer,
//! body read, token verification (HMAC), api-version check, dispatch, state lock, JSON.
//!
//! ```text
//! cargo run -p azure-sim --example arm_throughput -- --requests 20000 --concurrency 16
//! arm: requests=20000 concurrency=16 rps=… p50_us=… p99_us=…
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_sim::{AzureSim, NoopAddonController, SimConfig};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pki::install_ring_provider();
    let (requests, concurrency) = (arg("--requests", 20_000), arg("--concurrency", 16).max(1));
    let http = std::env::args().any(|a| a == "--http");
    let sim = AzureSim::start(SimConfig { tls: !http, ..SimConfig::default() }, Arc::new(NoopAddonController)).await?;
    let sub = sim.default_subscription();
    let token = sim.token_for(&sub)?;
    let mut builder = reqwest::Client::builder().http1_only().pool_max_idle_per_host(concurrency);
    if let Some(ca) = sim.ca_pem() {
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes())?]);
    }
    let client = builder.build()?;
    let url = format!("{}/subscriptions/{sub}/resourceGroups/bench?api-version=2019-10-01", sim.arm_url());
    let created = client.put(&url).bearer_auth(&token).json(&serde_json::json!({"location": "westus2"})).send().await?;
    anyhow::ensure!(created.status().is_success(), "setup failed: {}", created.status());

    let run = |count: usize| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let per_worker = count.div_ceil(concurrency);
            let workers = (0..concurrency).map(|_| {
                let (client, url, token) = (client.clone(), url.clone(), token.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_worker);
                    for _ in 0..per_worker {
                        let start = Instant::now();
                        let response = client.get(&url).bearer_auth(&token).send().await?;
                        anyhow::ensure!(response.status().is_success(), "status {}", response.status());
                        response.bytes().await?;
                        latencies.push(start.elapsed());
                    }
                    Ok::<_, anyhow::Error>(latencies)
                })
            });
            let mut all: Vec<Duration> = Vec::with_capacity(count);
            for worker in futures::future::join_all(workers).await {
                all.extend(worker??);
            }
            Ok::<_, anyhow::Error>(all)
        }
    };
    run(concurrency * 50).await?; // warm-up: connections, TLS sessions, allocator
    let start = Instant::now();
    let mut latencies = run(requests).await?;
    let elapsed = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_micros();
    println!(
        "arm: requests={} concurrency={concurrency} rps={:.0} p50_us={} p99_us={}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
    sim.shutdown().await;
    Ok(())
}
