//! bundlemgrd's process: the shared daemon life cycle around
//! [`bundlemgrd::build`]. Usage:
//! `bundlemgrd (--state DIR | --volatile) --policy FILE --run DIR --trust-dir DIR [--control-stdin]`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    nexus_daemon::run(bundlemgrd::SPEC, bundlemgrd::build)
}
