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
pub mod rundir;
pub mod tty;
pub mod when;

use clap::error::ErrorKind;
use clap::Parser;
use cli::{Cli, Command};
use ctx::Ctx;
use error::NxError;
use io::Io;
use nexus_core::Coded;
use std::ffi::OsString;
use std::path::Path;

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
        Command::Completions { shell } => cmd::manual::completions(ctx, shell),
        Command::Man { out } => cmd::manual::man(ctx, &out),
    }
}

/// What `nx` takes from its environment, read once by [`run`].
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `$NEXUS_SID`.
    pub sid: Option<String>,
    /// `$NEXUS_RUN`.
    pub run: Option<OsString>,
}

impl Env {
    /// The process's environment.
    pub fn from_process() -> Env {
        Env {
            sid: std::env::var(io::SID_ENV).ok(),
            run: std::env::var_os(rundir::RUN_ENV),
        }
    }
}

/// Run the command line `args` (including the program name) over `io`;
/// returns the exit status. `$NEXUS_SID` and `$NEXUS_RUN` are read from
/// the environment.
pub fn run<I, T>(args: I, io: Io<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with_env(args, io, Env::from_process())
}

/// [`run`] with the value of `$NEXUS_SID` given and no `$NEXUS_RUN`
/// (tests).
pub fn run_with_sid_env<I, T>(args: I, io: Io<'_>, sid_env: Option<String>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let env = Env {
        sid: sid_env,
        ..Env::default()
    };
    run_with_env(args, io, env)
}

/// Whether `--json` is on the command line (before a `--`): errors found
/// while parsing it are then JSON as well.
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Report a failure: `nx: <CODE>: <message>` on stderr, or with `--json`
/// the object `{"error": {"code", "message"}}` there instead.
fn report(io: &mut Io<'_>, json: bool, code: nexus_core::ErrorCode, msg: &str) {
    let msg = msg.trim_end();
    let _ = if json {
        let j = serde_json::json!({ "error": { "code": code.as_str(), "message": msg } });
        writeln!(io.stderr, "{j}")
    } else {
        writeln!(io.stderr, "nx: {code}: {msg}")
    };
}

/// [`run`] with its environment given.
pub fn run_with_env<I, T>(args: I, mut io: Io<'_>, env: Env) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let json = wants_json(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = io.stdout.write_all(text.as_bytes());
                    0
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    if json {
                        let msg = "a command is missing (see `nx --help`)";
                        report(&mut io, true, nexus_core::ErrorCode::Einval, msg);
                    } else {
                        let _ = io.stdout.write_all(text.as_bytes());
                    }
                    2
                }
                _ => {
                    let msg = text.trim_start_matches("error: ");
                    report(&mut io, json, nexus_core::ErrorCode::Einval, msg);
                    2
                }
            };
        }
    };
    let (run, run_from) = rundir::resolve(cli.run, env.run, Path::is_dir);
    let mut ctx = Ctx {
        io,
        json: cli.json,
        run,
        run_from,
        sid_env: env.sid,
    };
    match dispatch(&mut ctx, cli.command) {
        Ok(()) => 0,
        Err(e) => {
            let msg = match &e {
                NxError::Unreachable { service, source } => {
                    rundir::unreachable_message(service, source, &ctx.run, ctx.run_from)
                }
                other => other.to_string(),
            };
            report(&mut ctx.io, ctx.json, e.code(), &msg);
            e.exit_status()
        }
    }
}
