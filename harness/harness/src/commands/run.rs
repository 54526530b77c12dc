//! `harness run`: every scenario in `features/`, with reports, on the chosen cluster backend.

use std::process::ExitCode;

use super::cluster::ClusterChoice;

#[derive(clap::Args)]
pub struct RunCommand {
    #[command(flatten)]
    args: harness::runner::RunArgs,
    #[command(flatten)]
    choice: ClusterChoice,
}

pub async fn run(cmd: RunCommand) -> anyhow::Result<ExitCode> {
    // A backend that cannot run here (no Docker, no kind) is one line and a clean, empty run.
    if let Some(skip) = cmd.choice.skip().await? {
        println!("{skip}");
        println!("harness: 0 passed, 0 failed, 0 skipped");
        return Ok(ExitCode::SUCCESS);
    }
    cmd.choice.apply()?;
    let summary = harness::run_scenarios(cmd.args).await?;
    Ok(if summary.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
