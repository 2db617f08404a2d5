//! keystored's process life: nexus-daemon's [`nexus_daemon::run`], with one
//! difference: the marker writer follows the ready marker with
//! `keystore: ready` (the vault serves from the moment keystored does).
//!
//! nexus-daemon prints `keystored: ready` itself, inside `Daemon::serve`,
//! once the socket is bound, every queued endpoint is served and keymintd
//! answered `status`; nothing runs after that line and before serving, so
//! the only faithful place for the vault's marker is right behind it, in
//! the writer.
//!
//! Invariants: stdout carries markers only; `keystore: ready` is written
//! only directly after a ready line, under the same lock, so no other
//! marker can come between them; everything else passes through unchanged.

use nexus_daemon::{
    Config, Context, Daemon, DaemonError, Markers, Service, SignalWatcher, Spec, StopReason,
};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use wire::Handler;

/// The marker the vault's readiness is announced with.
pub const VAULT_READY: &str = "keystore: ready";

/// A line-buffering writer that adds `extra` after each line starting with
/// `trigger`.
struct ReadyTap {
    out: Box<dyn Write + Send>,
    trigger: String,
    extra: &'static str,
    pending: Vec<u8>,
}

impl Write for ReadyTap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.out.write_all(&line)?;
            if line.starts_with(self.trigger.as_bytes()) {
                self.out.write_all(self.extra.as_bytes())?;
                self.out.write_all(b"\n")?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Markers to `out`, with [`VAULT_READY`] after `<svc>: ready`.
pub fn markers_with_vault_ready(svc: &str, out: Box<dyn Write + Send>) -> Markers {
    Markers::to_writer(Box::new(ReadyTap {
        out,
        trigger: format!("{svc}: ready"),
        extra: VAULT_READY,
        pending: Vec::new(),
    }))
}

fn start(spec: Spec, config: Config) -> Result<(Daemon, SignalWatcher), DaemonError> {
    let control = if config.control_stdin {
        let fd = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| DaemonError::Setup {
                what: "the control channel",
                source,
            })?;
        Some(fd)
    } else {
        None
    };
    let markers = markers_with_vault_ready(spec.name, Box::new(io::stdout()));
    let daemon = Daemon::start_with(spec, config, control, markers)?;
    let signals = SignalWatcher::start(daemon.context().shutdown().clone()).map_err(|source| {
        DaemonError::Setup {
            what: "the signal handlers",
            source,
        }
    })?;
    Ok((daemon, signals))
}

/// The whole life of the keystored process (see [`nexus_daemon::run`] for
/// the exit statuses: 0 after an orderly stop, 1 after a fatal error, 2 for
/// a usage error).
pub fn run<H, E, F>(spec: Spec, build: F) -> ExitCode
where
    H: Handler,
    E: std::error::Error + Send + Sync + 'static,
    F: FnOnce(&Context) -> Result<Service<H>, E>,
{
    let config = match Config::parse(&spec, std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let outcome = start(spec, config).and_then(|(d, signals)| {
        let served = build(d.context())
            .map_err(|e| DaemonError::Service(Box::new(e)))
            .and_then(|service| d.serve(service));
        signals.stop();
        served
    });
    finish(spec.name, outcome)
}

fn finish(name: &str, outcome: Result<StopReason, DaemonError>) -> ExitCode {
    match outcome {
        Ok(reason) => {
            eprintln!("{name}: stopped ({reason:?})");
            ExitCode::from(reason.exit_status())
        }
        Err(e) => {
            eprintln!("{name}: fatal: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn vault_ready_follows_the_ready_marker_only() {
        let buf = Buf::default();
        let m = markers_with_vault_ready("keystored", Box::new(buf.clone()));
        m.line("keystore: put (app=a, key=b)").unwrap();
        m.ready("keystored", true, false).unwrap();
        m.line("keystore: put (app=a, key=keystored: ready)")
            .unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "keystore: put (app=a, key=b)\nkeystored: ready (volatile)\nkeystore: ready\n\
             keystore: put (app=a, key=keystored: ready)\n"
        );
    }
}
