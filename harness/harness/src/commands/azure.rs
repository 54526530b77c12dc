//! `harness azure ...` (being written).
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum AzureCommand {
    /// Not yet available.
    Todo,
}

pub async fn run(_cmd: AzureCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
