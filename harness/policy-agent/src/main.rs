//! `policy-agent`: the azurepolicy add-on process. See the library docs for behaviour and RBAC.

fn main() -> std::process::ExitCode {
    policy_agent::process_main(std::env::args_os())
}
