//! keystored's process: the shared daemon life cycle around
//! [`keystored::build`]. Usage:
//! `keystored (--state DIR | --volatile) --policy FILE --run DIR --trust-dir DIR [--control-stdin]`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    keystored::entry::run(keystored::SPEC, keystored::build)
}
