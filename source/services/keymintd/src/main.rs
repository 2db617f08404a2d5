//! keymintd's process: the shared daemon life cycle around
//! [`keymintd::build`]. Usage:
//! `keymintd (--state DIR | --volatile) --policy FILE --run DIR --control-stdin`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    nexus_daemon::run(keymintd::SPEC, keymintd::build)
}
