//! The crate's error type: which duty failed and the errno behind it.
//!
//! Messages name paths and operations only; nothing here ever carries data
//! read from a file.

use nexus_core::{Coded, ErrorCode};
use rustix::io::Errno;

/// A PID 1 duty that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum Pid1Error {
    /// The operation changes the whole machine and the caller is not PID 1.
    #[error("refused: this process is not PID 1")]
    NotPid1,
    /// A mount point could not be created or a file system mounted.
    #[error("mount {fstype} at {target} failed: {errno}")]
    Mount {
        /// The file system type asked for.
        fstype: &'static str,
        /// Where it was to be mounted.
        target: &'static str,
        /// The kernel's answer.
        errno: Errno,
    },
    /// `/dev/console` could not be opened or placed on fds 0..2.
    #[error("console setup failed: {0}")]
    Console(Errno),
    /// getrandom(2) failed for a reason other than "not ready yet".
    #[error("getrandom failed: {0}")]
    Random(Errno),
    /// wait(2) failed for a reason other than "no children".
    #[error("wait failed: {0}")]
    Wait(Errno),
    /// reboot(2) returned, so the machine is still up.
    #[error("power off failed: {0}")]
    PowerOff(Errno),
}

impl Coded for Pid1Error {
    fn code(&self) -> ErrorCode {
        match self {
            Pid1Error::NotPid1 => ErrorCode::Eperm,
            Pid1Error::Mount { .. }
            | Pid1Error::Console(_)
            | Pid1Error::Random(_)
            | Pid1Error::Wait(_)
            | Pid1Error::PowerOff(_) => ErrorCode::Eio,
        }
    }
}

/// The errno inside an `std::io::Error`, or EIO when it carries none.
pub(crate) fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}
