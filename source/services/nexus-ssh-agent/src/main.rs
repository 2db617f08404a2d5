//! nexus-ssh-agent's process entry point; everything is in the library
//! (`nexus_ssh_agent::run`).

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    nexus_ssh_agent::run::main(std::env::args_os())
}
