//! `harness cluster ...` (being written).
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// Not yet available.
    Todo,
}

pub async fn run(_cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
