//! identityd's process. Usage:
//! `identityd (--state DIR | --volatile) --policy FILE --run DIR [--control-stdin] [--kdf-test-params]`
//! (`--kdf-test-params` is for tests only: see `identityd::entry`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    identityd::entry::run()
}
