//! The harness library: what the `harness` binary and the cucumber scenarios (`tests/bdd.rs`) share.
//!
//! - [`az`]: a built-in translator from `az` command lines to the ARM calls the real CLI makes;
//! - [`addon_lifecycle`]: installs and removes the add-on in a cluster (azure-sim's `AddonController`);
//! - [`world`]: the cucumber World, its resources and the step library;
//! - [`runner`]: runs the feature files with reports; [`report`]: JUnit and the HTML living documentation.

/// The add-on lifecycle (its own crate, `addon-lifecycle`), re-exported for the World and steps.
pub use addon_lifecycle;
/// The az command translator (its own crate, `az-translator`), re-exported for the World and steps.
pub use az_translator as az;
pub mod report;
pub mod runner;
pub mod snapshots;
pub mod world;

/// Scenarios at once by default: twice the cores, at most 4. Scenarios mostly wait (on cycles,
/// namespace deletion, retries), and each running scenario has a control plane of its own (see
/// [`world::environment`]). Measured on 2 cores, all 70 scenarios: 73 s at 1, 44 s at 2, 40 s at 3,
/// 32 s at 4.
pub fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores * 2).clamp(1, 4)
}

/// Run options for this repository: `features/`, `reports/`, [`default_concurrency`], whether a
/// Docker engine answers (for `@requires-docker` scenarios), and the scenarios the chosen backend
/// cannot run, skipped with the reason ([`world::environment::unavailable_tags`]).
pub async fn default_run_options() -> runner::RunOptions {
    let root = world::environment::repo_root();
    let mut opts = runner::RunOptions::new(root.join("features"), root.join("reports"));
    opts.concurrency = default_concurrency();
    opts.docker_available = cluster::k3s::probe_docker().await.is_ok();
    if let Ok(backend) = cluster::chosen_backend() {
        opts.unavailable_tags = world::environment::unavailable_tags(backend);
    }
    opts
}

/// Runs this repository's scenarios with `args` on top of [`default_run_options`], one
/// environment per scenario running at once (see [`world::environment`]). What `harness run` and
/// the `bdd` test both do.
pub async fn run_scenarios(args: runner::RunArgs) -> anyhow::Result<runner::RunSummary> {
    let opts = args.apply(default_run_options().await);
    world::environment::set_capacity(opts.concurrency);
    runner::run::<world::AksWorld>(opts).await
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings only, so scenario output stays readable).
pub fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,kube_client=off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
