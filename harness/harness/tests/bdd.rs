#![recursion_limit = "256"]
//! The Gherkin scenarios under `cargo test` (a `harness = false` target). Options come from the
//! command line after `--` or from `HARNESS_TAGS` / `HARNESS_CONCURRENCY`.

#[path = "../src/steps/mod.rs"]
mod steps;

fn main() -> std::process::ExitCode {
    // The add-on's processes are this executable in a role (see dispatch_addon_process).
    if let Some(code) = harness::addon_lifecycle::dispatch_addon_process() {
        return code;
    }
    tokio::runtime::Runtime::new().expect("tokio runtime").block_on(scenarios())
}

async fn scenarios() -> std::process::ExitCode {
    if std::env::var_os("HARNESS_SKIP_SCENARIOS").is_some() {
        eprintln!("bdd: scenarios skipped (HARNESS_SKIP_SCENARIOS is set)");
        return std::process::ExitCode::SUCCESS;
    }
    pki::install_ring_provider();
    harness::init_tracing();
    match harness::run_scenarios(harness::runner::RunArgs::from_env()).await {
        Ok(summary) if summary.succeeded() => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            println!("harness: 0 passed, 1 failed, 0 skipped");
            std::process::ExitCode::FAILURE
        }
    }
}
