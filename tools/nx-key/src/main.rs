//! `nx`: the command line of the Nexus identity subsystem (see the
//! `nx_key` library and docs/tools/nx-key.md).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let (mut stdin, mut stdout, mut stderr) = (
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr().lock(),
    );
    let io = nx_key::io::Io {
        stdin: &mut stdin,
        terminal: nx_key::tty::stdin_is_terminal(),
        stdout: &mut stdout,
        stderr: &mut stderr,
    };
    ExitCode::from(nx_key::run(std::env::args_os(), io))
}
