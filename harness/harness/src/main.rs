#![recursion_limit = "256"]
//! `harness`: the command-line face of aks-policy-harness. Each subcommand lives in its own module
//! under `commands/`, named after what the user asks for.

use clap::{Parser, Subcommand};

mod commands;
mod steps;


#[derive(Parser)]
#[command(name = "harness", version, about = "Azure Policy for AKS (2019 preview), simulated end to end on a local cluster")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scenario in features/ (the main job); writes reports/junit.xml and reports/index.html.
    Run(commands::run::RunCommand),
    /// The sandbox: cluster, azure-sim and add-on lifecycle, running until Ctrl-C.
    Up(commands::up::UpCommand),
    /// Local Kubernetes control plane: `check` proves it works, `up` keeps one running.
    #[command(subcommand)]
    Cluster(commands::cluster::ClusterCommand),
    /// The mocked Azure control plane.
    #[command(subcommand)]
    Azure(commands::azure::AzureCommand),
    /// Offline policy evaluation, like `gator test`.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Performance figures.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    pki::install_ring_provider();
    harness::init_tracing();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(c) => commands::run::run(c).await,
            Command::Up(c) => commands::up::run(c).await,
            Command::Cluster(c) => commands::cluster::run(c).await,
            Command::Azure(c) => commands::azure::run(c).await,
            Command::Policy(c) => commands::policy::run(c).await,
            Command::Bench(c) => commands::bench::run(c).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
