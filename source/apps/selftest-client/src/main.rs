//! selftest-client's process: see the library
//! ([`selftest_client::main_entry`]) for the steps and their markers.
//! Usage (as nexus-init starts it):
//! `selftest-client (--state DIR | --volatile) --policy FILE --run DIR [--trust-dir DIR] --control-stdin`.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    selftest_client::main_entry()
}
