//! The agent's listening socket.
//!
//! Invariants (those of `ssh-agent`'s socket, and of the wire crate's
//! public sockets):
//! - The socket file is created with mode 0600 (set on the socket before
//!   `bind`, so the file never exists with wider permissions) and belongs
//!   to the user running the agent; anything else is refused at start.
//! - At most one agent owns a path: an exclusive `flock` on
//!   `<path>.lock` is held while serving. A socket file left by a dead
//!   agent is replaced only if nobody answers on it; a live socket or a
//!   file of another kind is never removed.
//! - A connecting process must run as the agent's own user or as root
//!   (peer credentials), whatever the file's permissions say.
//! - On exit the socket file is removed if it is still the one bound.

use rustix::fs::{FlockOperation, Mode};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why the socket could not be set up.
#[derive(Debug, Error)]
pub enum SocketError {
    /// Another agent serves this path.
    #[error("{0}: another agent is serving this socket")]
    InUse(PathBuf),
    /// A file that is not a socket is in the way.
    #[error("{0}: exists and is not a socket; not removed")]
    NotASocket(PathBuf),
    /// The socket came out with the wrong owner or mode.
    #[error("{0}: socket has owner {1} and mode {2:o}, expected the agent's user and 0600")]
    Unsafe(PathBuf, u32, u32),
    /// A system call failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> SocketError + '_ {
    move |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A bound, listening socket and the lock that makes it ours.
pub struct AgentSocket {
    /// The listener.
    pub listener: UnixListener,
    path: PathBuf,
    dev: u64,
    ino: u64,
    _lock: File,
}

fn lock_path(path: &Path) -> PathBuf {
    let mut p = OsString::from(path.as_os_str());
    p.push(".lock");
    PathBuf::from(p)
}

impl AgentSocket {
    /// Bind and listen on `path` (mode 0600).
    pub fn bind(path: &Path) -> Result<AgentSocket, SocketError> {
        let err = io_err(path);
        let nofollow = i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nofollow)
            .open(lock_path(path))
            .map_err(&err)?;
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(SocketError::InUse(path.into())),
            Err(e) => return Err(err(e.into())),
        }
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.into())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    fs::remove_file(path).map_err(&err)?;
                }
                Err(e) => return Err(err(e)),
            },
            Ok(_) => return Err(SocketError::NotASocket(path.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let sys = |e: rustix::io::Errno| err(e.into());
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(sys)?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600)).map_err(sys)?;
        let addr = SocketAddrUnix::new(path).map_err(sys)?;
        rustix::net::bind_unix(&fd, &addr).map_err(sys)?;
        let meta = fs::symlink_metadata(path).map_err(&err)?;
        let euid = rustix::process::geteuid().as_raw();
        if !meta.file_type().is_socket() || meta.uid() != euid || meta.mode() & 0o777 != 0o600 {
            let _ = fs::remove_file(path);
            return Err(SocketError::Unsafe(
                path.into(),
                meta.uid(),
                meta.mode() & 0o7777,
            ));
        }
        rustix::net::listen(&fd, 128).map_err(sys)?;
        Ok(AgentSocket {
            listener: UnixListener::from(fd),
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            _lock: lock,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the socket file (and its lock file) if still ours.
    pub fn remove(&self) {
        if let Ok(m) = fs::symlink_metadata(&self.path) {
            if m.dev() == self.dev && m.ino() == self.ino {
                let _ = fs::remove_file(&self.path);
                let _ = fs::remove_file(lock_path(&self.path));
            }
        }
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
