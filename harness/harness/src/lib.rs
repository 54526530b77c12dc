//! The harness library: what the `harness` binary and the cucumber scenarios (`tests/bdd.rs`) share.
//!
//! - [`az`]: a built-in translator from `az` command lines to the ARM calls the real CLI makes;
//! - [`addon_lifecycle`]: installs and removes the add-on in a cluster (azure-sim's `AddonController`);
//! - [`world`]: the cucumber World, its resources and the step library;
//! - [`runner`]: runs the feature files with reports; [`report`]: JUnit and the HTML living documentation.

pub mod addon_lifecycle;
pub mod az;
pub mod report;
pub mod runner;
pub mod snapshots;
pub mod world;

/// Run options for this repository: `features/`, `reports/`, one scenario at a time (the add-on is
/// cluster-wide, as on AKS, so its webhook would see other scenarios' objects), and whether a
/// Docker engine answers (for `@requires-docker` scenarios).
pub async fn default_run_options() -> runner::RunOptions {
    let root = world::environment::repo_root();
    let mut opts = runner::RunOptions::new(root.join("features"), root.join("reports"));
    opts.concurrency = 1;
    opts.docker_available = cluster::k3s::probe_docker().await.is_ok();
    opts
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings only, so scenario output stays readable).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,kube_client=off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
