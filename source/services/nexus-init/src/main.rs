//! The nexus-init executable: as PID 1 it boots the image first; anywhere
//! else it supervises the services described by the manifest. All logic
//! is in the library.

#![forbid(unsafe_code)]

use clap::Parser;
use nexus_core::Coded;
use nexus_init::{console::say, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    if pid1::is_pid1() {
        nexus_init::early::run_as_pid1();
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match nexus_init::run_host(&cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("nexus-init: {e}");
            say(&format!("init: FAIL {} ({})", e, e.code()));
            ExitCode::from(2)
        }
    }
}
