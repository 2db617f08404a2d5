//! Crash-test writer: logs a user in over a state directory and puts
//! entries `kNNNNN` (value `value-NNNNN` padded to 2 KiB) one by one,
//! printing `ok N` after each durable put, until killed or `count` is
//! reached. The host tests kill it with SIGKILL mid-write.
//!
//! Usage: `vault_writer <state-dir> <user> <password> <count>`

#![forbid(unsafe_code)]

use identity::Password;
use nexus_core::{ManualClock, Subject, UserId};
use std::io::Write;
use std::process::ExitCode;
use ui_v18b_host::{entry_name, entry_value, RigConfig, Stack};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, user, password, count] = args.as_slice() else {
        return Err("usage: vault_writer <state-dir> <user> <password> <count>".into());
    };
    let count: usize = count.parse()?;
    let clock = ManualClock::new(1_700_000_000);
    let stack = Stack::open(dir.as_ref(), &clock, RigConfig::crash_test())?;
    let user = UserId::new(user.as_str())?;
    let app: Subject = "app:com.example.crash".parse()?;
    let session = stack.identity.login(
        &ui_v18b_host::caller(),
        &user,
        &Password::new(password.as_str()),
    )?;
    let start = stack.vault.list(&app, session.sid)?.len();
    let mut out = std::io::stdout().lock();
    for i in start..count {
        stack
            .vault
            .put(&app, session.sid, &entry_name(i), &entry_value(i))?;
        writeln!(out, "ok {i}")?;
        out.flush()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vault_writer: {e}");
            ExitCode::FAILURE
        }
    }
}
