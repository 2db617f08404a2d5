//! statefs: where the identity subsystem keeps its state, and how it knows
//! the state is its own.
//!
//! `state:/a/b/c` paths map to files under one state directory (on the host,
//! a folder; in the QEMU image, the ext4 disk mounted at `/state`). When no
//! state directory exists the store runs in an explicit *volatile* mode,
//! held in memory, which every caller can query and must report; it has no
//! state root.
//!
//! - [`StateFs`]: the store (paths, atomic writes, records, listing).
//! - [`record`]: the versioned envelope every persisted format uses
//!   (layout 2: format version, generation, MAC or checksum).
//! - [`RootConfig`] / [`StateFs::attach_root`]: a daemon's *state root*
//!   (module `root`): the generation and digest of every record it owns,
//!   journaled in its hash-chained audit log and checkpointed in a MAC'd
//!   snapshot, so that one record put back from an older copy is `EIO`.
//! - [`RollbackCounter`]: the counter a root may not fall below (software
//!   now; a hardware monotonic counter can implement it later).
//! - [`Ownership`]: which records of the shared directory a daemon owns.
//!
//! Invariants:
//! - A write is atomic: temp file in the same directory, fsync, rename,
//!   fsync of the directory. A reader sees the old bytes or the new ones.
//! - The state directory must be owned by the daemon's uid and not
//!   writable by group or others; directories are created 0700 and files
//!   0600; every path is opened component by component with `O_NOFOLLOW`:
//!   a symlink or a wrong file type is `EIO`, never followed or skipped.
//! - Paths are validated segments (see [`StatePath`]); nothing escapes the
//!   root. Temp files start with `.` and are never listed; a root removes
//!   its own orphaned ones at start (several daemons share the directory).
//! - Corrupt, tampered, rolled-back, missing or extra records are `EIO`
//!   for that record, naming it; never a silent reset.
//! - Buffers that held a record's bytes are zeroized when dropped (the
//!   device secret is a record).

#![forbid(unsafe_code)]

mod counter;
mod disk;
mod entries;
mod key;
mod owner;
mod path;
pub mod record;
mod root;
mod store;

pub use counter::{RollbackCounter, StateCounter};
pub use entries::{DirEntry, EntryKind};
pub use key::StateKey;
pub use owner::Ownership;
pub use path::{PathError, StatePath};
pub use root::snapshot::checkpoints;
pub use root::{RootConfig, RootReport, DEFAULT_SNAPSHOT_EVERY};
pub use store::{Payload, StateFs, StateMode, StoredRecord};

use nexus_core::{Coded, ErrorCode};

/// A storage failure. Paths in messages are `state:/…` paths (or the state
/// directory's host path), never contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A record does not match the state root (rolled back, missing,
    /// extra, or the root itself damaged).
    #[error("record {path} fails its state root check: {reason}")]
    Integrity {
        /// The state path involved.
        path: String,
        /// What disagrees (generations, never content).
        reason: String,
    },
    /// A record has a version this build does not know.
    #[error("record at {path} has unsupported version {version}")]
    UnsupportedVersion {
        /// The state path involved.
        path: String,
        /// The version found.
        version: u16,
    },
    /// The state directory is not safe to use.
    #[error("state directory {path} refused: {reason}")]
    Unsafe {
        /// Its host path.
        path: String,
        /// Why.
        reason: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// A write to a record another daemon owns.
    #[error("{path} belongs to another daemon's state root")]
    NotOwned {
        /// The state path involved.
        path: String,
    },
    /// No state root (volatile mode) or one already attached.
    #[error("state root: {0}")]
    NoRoot(&'static str),
    /// The journal (the audit log) refused a state line.
    #[error(transparent)]
    Journal(#[from] auditlog::AuditError),
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
            StateError::Integrity { reason, .. } => format!("fails its state root check: {reason}"),
            StateError::Path(e) => e.to_string(),
            other => other.to_string(),
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
