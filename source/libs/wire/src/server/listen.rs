//! Binding a public socket safely.
//!
//! Invariants:
//! - At most one server owns a socket path: it holds an exclusive `flock`
//!   on `<path>.lock` for as long as it serves, so two servers starting at
//!   once cannot both decide the socket file is stale and unlink each
//!   other's socket.
//! - A file at the path is removed only if it is a socket nobody answers
//!   on; a live socket or any other kind of file is left alone.
//! - The socket file never has wider permissions than configured: the mode
//!   is set on the socket before `bind` (Linux creates the file with the
//!   socket inode's mode less the umask), then widened to exactly the
//!   configured mode if the umask removed bits. A configured group is set
//!   on the file before `listen`, so nobody can connect while the file
//!   still carries the server's own group.
//! - On shutdown the socket file is removed only if it is still the one
//!   this server bound (same device and inode).

use super::ServerError;
use rustix::fs::{FlockOperation, Mode};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

const BACKLOG: i32 = 128;

/// A bound, listening socket and the lock that makes it ours.
pub struct Bound {
    pub(crate) listener: UnixListener,
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

fn take_lock(path: &Path) -> Result<File, ServerError> {
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(o_nofollow())
        .open(lock_path(path))
        .map_err(ServerError::Bind)?;
    match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(lock),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(ServerError::InUse(path.to_path_buf())),
        Err(e) => Err(ServerError::Bind(e.into())),
    }
}

/// `O_NOFOLLOW` (as rustix defines it for this platform), so the lock file
/// cannot be redirected through a symlink.
fn o_nofollow() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// Remove a stale socket file at `path`, if there is one.
fn clear_stale(path: &Path) -> Result<(), ServerError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => Err(ServerError::InUse(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                fs::remove_file(path).map_err(ServerError::Bind)
            }
            Err(e) => Err(ServerError::Bind(e)),
        },
        Ok(_) => Err(ServerError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ServerError::Bind(e)),
    }
}

/// A socket file mode: octal permission bits only (no setuid, setgid or
/// sticky bit), e.g. `660` or `0660`.
pub fn parse_socket_mode(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a socket mode: octal permission bits such as 0660");
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(s, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(bad());
    }
    Ok(mode)
}

/// Bind and listen on `path` with permissions `mode` and, if given, group
/// `group`, keeping the invariants above.
pub fn bind(path: &Path, mode: u32, group: Option<u32>) -> Result<Bound, ServerError> {
    let lock = take_lock(path)?;
    clear_stale(path)?;
    let bind_err = |e: rustix::io::Errno| ServerError::Bind(e.into());
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(bind_err)?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(bind_err)?;
    let addr = SocketAddrUnix::new(path).map_err(bind_err)?;
    rustix::net::bind_unix(&fd, &addr).map_err(bind_err)?;
    let meta = fs::symlink_metadata(path).map_err(ServerError::Bind)?;
    if !meta.file_type().is_socket() {
        return Err(ServerError::NotASocket(path.to_path_buf()));
    }
    if let Some(gid) = group {
        if meta.gid() != gid {
            // Until `listen` below, a connect is refused: no caller can
            // reach the socket under its first group.
            std::os::unix::fs::lchown(path, None, Some(gid)).map_err(ServerError::Bind)?;
        }
    }
    if meta.mode() & 0o7777 != mode & 0o7777 {
        fs::set_permissions(path, Permissions::from_mode(mode)).map_err(ServerError::Bind)?;
    }
    rustix::net::listen(&fd, BACKLOG).map_err(bind_err)?;
    Ok(Bound {
        listener: UnixListener::from(fd),
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
        _lock: lock,
    })
}

impl Bound {
    /// The listening socket.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// Remove the socket file if it is still ours. The lock is released
    /// when `self` drops, after the removal.
    pub fn remove_socket_file(&self) {
        if let Ok(m) = fs::symlink_metadata(&self.path) {
            if m.dev() == self.dev && m.ino() == self.ino {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}
