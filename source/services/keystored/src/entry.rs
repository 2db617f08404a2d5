//! keystored's process life: nexus-daemon's [`nexus_daemon::run_with`],
//! with one difference: the ready marker is followed by `keystore: ready`
//! (the vault serves from the moment keystored does).
//!
//! nexus-daemon prints `keystored: ready` itself, inside `Daemon::serve`,
//! once the socket is bound, every queued endpoint is served and keymintd
//! answered `status`; the marker writer prints the vault's marker directly
//! after it, under the same lock, so no other marker comes between them.
//!
//! Invariant: stdout carries markers only.

use nexus_daemon::{Context, Markers, Service, Spec};
use std::process::ExitCode;
use wire::Handler;

/// The marker the vault's readiness is announced with.
pub const VAULT_READY: &str = "keystore: ready";

/// keystored's marker writer over `base`: [`VAULT_READY`] after the ready line.
pub fn markers(base: Markers) -> Markers {
    base.with_after_ready(VAULT_READY)
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
    nexus_daemon::run_with(
        spec,
        std::env::args_os().collect(),
        markers(Markers::stdout()),
        build,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Write};
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
        let m = markers(Markers::to_writer(Box::new(buf.clone())));
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
