//! Readiness for systemd (`Type=notify`): the `sd_notify` protocol, one
//! datagram per state change on the socket named by `$NOTIFY_SOCKET`, sent
//! with std's Unix datagram socket (no libsystemd).
//!
//! What init says: `READY=1` once `init: ready` is printed (every daemon
//! serves), with a `STATUS=` line naming the run directory; `STOPPING=1`
//! when shutdown begins. Without `$NOTIFY_SOCKET` nothing is sent.
//!
//! Invariants: a failed send is reported on stderr and never stops the
//! supervisor; the children never see `$NOTIFY_SOCKET` (init removes it
//! from their environment), so no daemon can say READY for the stack.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for a `Type=notify` service.
pub const NOTIFY_ENV: &str = "NOTIFY_SOCKET";

/// Where notifications go, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    target: Option<OsString>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    pub fn from_env() -> Notifier {
        Notifier::to(std::env::var_os(NOTIFY_ENV))
    }

    /// Notifications to `target` (`None` or empty: none are sent).
    pub fn to(target: Option<OsString>) -> Notifier {
        Notifier {
            target: target.filter(|t| !t.is_empty()),
        }
    }

    /// Send `state` (newline-separated `KEY=VALUE` assignments).
    pub fn notify(&self, state: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send(target, state.as_bytes()) {
            eprintln!(
                "nexus-init: cannot notify {}: {e}",
                target.to_string_lossy()
            );
        }
    }
}

fn send(target: &OsString, msg: &[u8]) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg, &addr)?;
        }
        None => {
            sock.send_to(msg, target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        Notifier::to(Some(path.clone().into())).notify("READY=1");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("nexus-init-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::to(Some(format!("@{name}").into())).notify("STOPPING=1");
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        // Nowhere to send, or a dead socket: nothing happens, no panic.
        Notifier::to(None).notify("READY=1");
        Notifier::to(Some(dir.path().join("gone").into())).notify("READY=1");
    }
}
