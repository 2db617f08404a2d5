//! statefs: where the identity subsystem keeps its state.
//!
//! `state:/a/b/c` paths map to files under one state directory (on the host,
//! a folder; in the QEMU image, the ext4 disk mounted at `/state`). When no
//! state directory exists the store runs in an explicit *volatile* mode,
//! held in memory, which every caller can query and must report.
//!
//! Invariants:
//! - A write is atomic: temp file in the same directory, fsync, rename,
//!   fsync of the directory. A reader sees the old bytes or the new ones.
//! - Directories are created 0700 and files 0600.
//! - Paths are validated segments (see [`StatePath`]); nothing escapes the
//!   root. Temp files start with `.` and are never listed.
//! - Persisted records carry a magic, a version and a checksum
//!   ([`record`]); anything else is [`StateError::Corrupt`] (`EIO`), never a
//!   silent reset.

#![forbid(unsafe_code)]

mod entries;
mod path;
pub mod record;
mod store;

pub use entries::{DirEntry, EntryKind};
pub use path::{PathError, StatePath};
pub use store::{StateFs, StateMode};

use nexus_core::{Coded, ErrorCode};

/// A storage failure. Paths in messages are `state:/…` paths, never
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The operating system refused an operation.
    #[error("storage I/O error at {path}: {source}")]
    Io {
        /// The state path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record failed its integrity or format check.
    #[error("corrupt record at {path}: {reason}")]
    Corrupt {
        /// The state path involved.
        path: String,
        /// What was wrong (structure only, never content).
        reason: &'static str,
    },
    /// A record has a version this build does not know.
    #[error("record at {path} has unsupported version {version}")]
    UnsupportedVersion {
        /// The state path involved.
        path: String,
        /// The version found.
        version: u16,
    },
    /// The path is not a valid state path.
    #[error(transparent)]
    Path(#[from] PathError),
}

impl StateError {
    /// What went wrong, without the path (for a report that names the
    /// record already).
    pub fn detail(&self) -> String {
        match self {
            StateError::Io { source, .. } => format!("unreadable: {source}"),
            StateError::Corrupt { reason, .. } => (*reason).to_owned(),
            StateError::UnsupportedVersion { version, .. } => {
                format!("unsupported record version {version}")
            }
            StateError::Path(e) => e.to_string(),
        }
    }
}

impl Coded for StateError {
    fn code(&self) -> ErrorCode {
        match self {
            StateError::Path(_) => ErrorCode::Einval,
            _ => ErrorCode::Eio,
        }
    }
}
