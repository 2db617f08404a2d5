//! The agent's listening socket.
//!
//! Binding is the wire crate's ([`wire::bind_socket`]), which keeps the
//! invariants of every public socket of the stack: the mode is set on the
//! socket before `bind` (the file never exists with wider permissions);
//! one owner per path (an exclusive `flock` on `<path>.lock`); a socket
//! file left by a dead owner is replaced only if nobody answers on it, and
//! a file of another kind is never removed; on exit the socket file is
//! removed if it is still the one bound.
//!
//! What the agent adds (those of `ssh-agent`'s socket): mode 0600 and the
//! agent's own user as owner, checked after binding (anything else stops
//! the agent); and a connecting process must run as the agent's user or as
//! root (peer credentials), whatever the file's permissions say.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use thiserror::Error;
use wire::{BoundSocket, ServerError};

/// The socket file's mode.
pub const SOCKET_MODE: u32 = 0o600;

/// Why the socket could not be set up.
#[derive(Debug, Error)]
pub enum SocketError {
    /// Binding failed (in use, not a socket, a system call).
    #[error("{0}: {1}")]
    Bind(PathBuf, #[source] ServerError),
    /// The socket came out with the wrong owner or mode.
    #[error("{0}: socket has owner {1} and mode {2:o}, expected the agent's user and 0600")]
    Unsafe(PathBuf, u32, u32),
}

/// A bound, listening socket.
pub struct AgentSocket {
    bound: BoundSocket,
}

impl AgentSocket {
    /// Bind and listen on `path` (mode 0600, the agent's user).
    pub fn bind(path: &Path) -> Result<AgentSocket, SocketError> {
        let bound = wire::bind_socket(path, SOCKET_MODE, None)
            .map_err(|e| SocketError::Bind(path.into(), e))?;
        let meta = fs::symlink_metadata(path)
            .map_err(|e| SocketError::Bind(path.into(), ServerError::Bind(e)))?;
        let euid = rustix::process::geteuid().as_raw();
        if meta.uid() != euid || meta.mode() & 0o7777 != SOCKET_MODE {
            bound.remove_socket_file();
            return Err(SocketError::Unsafe(
                path.into(),
                meta.uid(),
                meta.mode() & 0o7777,
            ));
        }
        Ok(AgentSocket { bound })
    }

    /// The listener.
    pub fn listener(&self) -> &UnixListener {
        self.bound.listener()
    }

    /// Remove the socket file if it is still ours.
    pub fn remove(&self) {
        self.bound.remove_socket_file();
    }
}

/// Whether `stream`'s peer runs as the agent's user or as root.
pub fn peer_allowed(stream: &UnixStream) -> bool {
    let euid = rustix::process::geteuid().as_raw();
    match rustix::net::sockopt::get_socket_peercred(stream) {
        Ok(c) => c.uid.as_raw() == euid || c.uid.is_root(),
        Err(_) => false,
    }
}
