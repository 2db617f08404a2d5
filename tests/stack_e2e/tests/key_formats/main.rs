//! Keys in and out of the keystore in standard formats, over the real
//! stack (nexus-init and the daemons, as uid 0 = `system:admin`), judged
//! by the standard tools: keys made by `ssh-keygen`, `openssl` and
//! `minisign` are imported with `nx key import` and sign what `minisign
//! -V` accepts; public keys from `nx key export-public` are accepted by
//! `openssl pkey -pubin`, `ssh-keygen -l` and `minisign -V -p`; a 64 MiB
//! file is signed and verified prehashed.
//!
//! The tools are Debian's openssh-client, openssl and minisign
//! (`scripts/install-test-deps.sh`); a missing one fails the test.
//!
//! Run: `cargo build --bins && cargo test -p stack_e2e --test key_formats`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../stack/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../stack/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../ssh_agent/tools.rs"]
mod tools;

mod export;
mod import;
mod prehash;

use harness::{bin_dir, must, Stack, BOOT_WAIT};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A booted stack and a scratch directory next to its state.
pub fn booted() -> (Stack, PathBuf) {
    let stack = Stack::start();
    stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    let scratch = stack
        .run_dir()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("scratch");
    must(std::fs::create_dir_all(&scratch), "scratch dir");
    (stack, scratch)
}

/// `nx --run <run> ARGS` in `dir`, with `stdin`: its output, whatever
/// the status.
pub fn nx_out(stack: &Stack, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    tools::run(
        Command::new(bin_dir().join("nx"))
            .current_dir(dir)
            .arg("--run")
            .arg(stack.run_dir())
            .args(args),
        stdin,
    )
}

/// `nx` that must succeed: its stdout.
pub fn nx_ok(stack: &Stack, dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = nx_out(stack, dir, args, b"");
    assert!(
        out.status.success(),
        "nx {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `nx --json …` that must succeed: its object.
pub fn nx_json(stack: &Stack, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    must(
        serde_json::from_slice(&nx_ok(stack, dir, &all)),
        "nx --json output",
    )
}

/// A standard tool, run in `dir`, that must succeed: its stdout.
pub fn tool(dir: &Path, program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = tools::run(Command::new(program).current_dir(dir).args(args), stdin);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A standard tool's output, whatever its status.
pub fn tool_out(dir: &Path, program: &str, args: &[&str]) -> Output {
    tools::run(Command::new(program).current_dir(dir).args(args), b"")
}

/// Every file under `dir`, recursively (sockets and the like skipped).
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in must(std::fs::read_dir(dir), "read_dir") {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.extend(files_under(&p));
        } else if meta.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
