//! `harness policy ...` (being written).
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Not yet available.
    Todo,
}

pub async fn run(_cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
