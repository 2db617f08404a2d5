//! updated's process: the shared daemon life cycle around
//! [`updated::build`]. Usage:
//! `updated (--state DIR | --volatile) --policy FILE --run DIR --trust-dir DIR [--control-stdin]`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    nexus_daemon::run(updated::SPEC, updated::build)
}
