//! nx: the command line of the Nexus identity subsystem. The binary is a
//! thin `main.rs` over [`run`], so that tests drive the whole command line
//! (parsing, calls, output, exit status) in-process.
//!
//! Invariants: every failure ends as `nx: <CODE>: <message>` on stderr and
//! a stable exit status ([`error::NxError::exit_status`]); `--json` output
//! has stable field names (docs/tools/nx-key.md); no secret is ever taken
//! from argv or printed in a message.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod ctx;
pub mod error;
pub mod io;
pub mod keyfile;

use clap::error::ErrorKind;
use clap::Parser;
use cli::{Cli, Command};
use ctx::Ctx;
use error::NxError;
use io::Io;
use nexus_core::Coded;
use std::ffi::OsString;

fn dispatch(ctx: &mut Ctx<'_>, command: Command) -> Result<(), NxError> {
    match command {
        Command::Key(k) => cmd::key::run(ctx, k),
        Command::Vault(v) => cmd::identity::vault(ctx, v),
        Command::Session(s) => cmd::identity::session(ctx, s),
        Command::User(u) => cmd::identity::user(ctx, u),
        Command::Attest(a) => cmd::attest::run(ctx, a),
        Command::Bundle(b) => cmd::artifact::bundle(ctx, b),
        Command::Update(u) => cmd::artifact::update(ctx, u),
        Command::Status => cmd::status::run(ctx),
        Command::Bench(b) => cmd::bench::run(ctx, b),
        Command::Ssh(s) => cmd::ssh::run(ctx, s),
        Command::Audit(a) => cmd::audit::run(ctx, a),
    }
}

/// Run the command line `args` (including the program name) over `io`;
/// returns the exit status. `$NEXUS_SID` is read from the environment.
pub fn run<I, T>(args: I, io: Io<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with_sid_env(args, io, std::env::var(io::SID_ENV).ok())
}

/// [`run`] with the value of `$NEXUS_SID` given (tests).
pub fn run_with_sid_env<I, T>(args: I, io: Io<'_>, sid_env: Option<String>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = io.stdout.write_all(text.as_bytes());
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        2
                    } else {
                        0
                    }
                }
                _ => {
                    let msg = text.trim_start_matches("error: ");
                    let _ = write!(io.stderr, "nx: EINVAL: {msg}");
                    2
                }
            };
        }
    };
    let mut ctx = Ctx {
        io,
        json: cli.json,
        run: cli.run,
        sid_env,
    };
    match dispatch(&mut ctx, cli.command) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(ctx.io.stderr, "nx: {}: {}", e.code(), e);
            e.exit_status()
        }
    }
}
