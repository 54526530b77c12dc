//! `gatekeeper`: see `gatekeeper --help` and the library docs.

fn main() -> std::process::ExitCode {
    gatekeeper::process_main(std::env::args_os())
}
