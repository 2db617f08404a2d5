//! attestd's process entry point; everything is in the library
//! (`attestd::serve`): the process contract, the device key, the ops.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    attestd::serve()
}
