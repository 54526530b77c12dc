#![recursion_limit = "256"]
//! `harness`: the command-line face of aks-policy-harness. Each subcommand lives in its own module
//! under `commands/`, named after what the user asks for.

use clap::{Parser, Subcommand};

mod commands;
mod steps;

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Azure Policy for AKS (2019 preview), simulated end to end on a local cluster"
)]
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
    /// The add-on's webhook process, as the add-on lifecycle starts it (same flags as `policy-webhook`).
    #[command(disable_help_flag = true)]
    Webhook {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The add-on's agent process, as the add-on lifecycle starts it (same flags as `policy-agent`).
    #[command(disable_help_flag = true)]
    Agent {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

fn main() -> std::process::ExitCode {
    // `harness webhook …` and `harness agent …` are the add-on's processes: one binary holds all.
    if let Some(code) = harness::addon_lifecycle::dispatch_addon_process() {
        return code;
    }
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
            // Handled by dispatch_addon_process before parsing; listed for --help.
            Command::Webhook { .. } | Command::Agent { .. } => unreachable!("add-on roles are dispatched first"),
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
