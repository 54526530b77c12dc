//! `policy-webhook`: see `policy-webhook --help` and the library docs.

fn main() -> std::process::ExitCode {
    policy_webhook::cli::process_main(std::env::args_os())
}
