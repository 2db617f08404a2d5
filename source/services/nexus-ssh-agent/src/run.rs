//! The process: parse the command line, bind the socket, print where it
//! is, serve until SIGTERM/SIGINT (or, under the supervisor, until the
//! control channel closes), clean up.
//!
//! Invariants: `SSH_AUTH_SOCK=…` and the ready marker are printed only
//! once the socket accepts connections; the socket file (and a private
//! directory the agent made for it) is removed at exit; exit status 0 for
//! an orderly stop, 1 when the agent could not start or its control
//! channel broke, 2 for a usage error.

use crate::agent::{Agent, AgentConfig};
use crate::backend::KeychainBackend;
use crate::cli::Cli;
use crate::confirm::Helper;
use crate::log;
use crate::server::accept_loop;
use crate::socket::AgentSocket;
use clap::Parser;
use nexus_daemon::{Shutdown, SignalWatcher, StopReason};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use wire::handoff::{recv_endpoint, HandoffError};

/// The service's name: its ready marker and its socket under the
/// supervisor are named after it.
pub const NAME: &str = "nexus-ssh-agent";

/// Where the socket goes, and a directory made for it (removed at exit).
fn socket_path(cli: &Cli) -> std::io::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(p) = &cli.socket {
        return Ok((p.clone(), None));
    }
    if cli.control_stdin {
        return Ok((cli.run.join(format!("{NAME}.sock")), None));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Ok((PathBuf::from(dir).join(format!("{NAME}.sock")), None));
    }
    let dir = tempfile::Builder::new().prefix("nexus-ssh-").tempdir()?;
    let path = dir.path().join(format!("agent.{}", std::process::id()));
    Ok((path, Some(dir)))
}

/// Trip `shutdown` when the supervisor's control channel closes. Endpoints
/// sent on it are not expected (the agent has no routes) and are dropped.
fn watch_control(shutdown: Shutdown) -> std::io::Result<()> {
    thread::Builder::new()
        .name("control".into())
        .spawn(move || loop {
            match recv_endpoint(std::io::stdin()) {
                Ok(ep) => log(&format!("unexpected endpoint {} dropped", ep.name)),
                Err(HandoffError::Closed) => {
                    return shutdown.trigger(StopReason::ControlClosed);
                }
                Err(HandoffError::Io(_) | HandoffError::Truncated) => {
                    return shutdown.trigger(StopReason::ControlFailed);
                }
                Err(e) => log(&format!("control channel: {e}")),
            }
        })
        .map(drop)
}

/// Run the agent with command line `args`; returns the exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match serve(&cli) {
        Ok(reason) => ExitCode::from(reason.exit_status()),
        Err(msg) => {
            log(&format!("FAIL {msg}"));
            ExitCode::from(1)
        }
    }
}

fn serve(cli: &Cli) -> Result<StopReason, String> {
    let shutdown = Shutdown::new();
    let signals = SignalWatcher::start(shutdown.clone()).map_err(|e| format!("signals: {e}"))?;
    if cli.control_stdin {
        watch_control(shutdown.clone()).map_err(|e| format!("control channel: {e}"))?;
    }
    let (path, private_dir) = socket_path(cli).map_err(|e| format!("socket directory: {e}"))?;
    let socket = AgentSocket::bind(&path).map_err(|e| e.to_string())?;
    let mut config = AgentConfig::new(cli.purpose.clone());
    if let Some(helper) = &cli.confirm_helper {
        config.confirm = Some(Box::new(Helper::new(helper.clone())));
    }
    let agent = Arc::new(Agent::new(Box::new(KeychainBackend::new(&cli.run)), config));
    let listener = socket
        .listener()
        .try_clone()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept_loop(agent, listener))
        .map_err(|e| format!("accept thread: {e}"))?;

    let pid = std::process::id();
    let mut lines = format!(
        "SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;\nSSH_AGENT_PID={pid}; export SSH_AGENT_PID;\n",
        path.display()
    );
    if cli.control_stdin {
        lines.push_str(&format!("{NAME}: ready\n"));
    } else {
        lines.push_str(&format!("echo Agent pid {pid};\n"));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(lines.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    drop(out);
    log(&format!(
        "serving keys of purpose {} from {}/keystored.sock on {}",
        cli.purpose,
        cli.run.display(),
        path.display()
    ));

    let reason = shutdown.wait();
    log(&format!("stopping ({reason:?})"));
    socket.remove();
    drop(private_dir);
    signals.stop();
    Ok(reason)
}
