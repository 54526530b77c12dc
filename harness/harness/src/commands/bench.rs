//! `harness bench ...` (being written).
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Not yet available.
    Todo,
}

pub async fn run(_cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
