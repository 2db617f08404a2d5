//! auditlog: the audit logs of the identity daemons, hash-chained line by
//! line, rotated by size with a retention cap, made durable by group commit.
//!
//! A log is one JSON object per line. Every line starts with two fields
//! the writer adds, `"seq"` (its number in the chain, from 0, continuing
//! across files) and `"prev"` (hex SHA-256 of the previous line's bytes,
//! newline included; 64 zeros for line 0), then the producer's fields:
//!
//! ```text
//! {"seq":7,"prev":"9f2c…","time":1700000000,"subject":"app:a","capability":"identity.key.sign",…}
//! ```
//!
//! so that anyone can check the chain without a key ([`verify`]).
//!
//! - [`Journal`]: the writer (one per daemon): appends whole lines with one
//!   `write(2)` each, rotates `<svc>.jsonl` into `<svc>.<first seq>.jsonl`
//!   at a size, keeps at most a configured number of rotated files (never
//!   one that a state root still needs: [`Journal::set_pin`]), and makes
//!   lines durable by group commit ([`FlushMode`]).
//! - [`files`]: where a service's log files are and how to read them.
//! - [`verify`]: check every chain in a directory; report the first broken
//!   line.
//! - [`show`]: filter lines (subject, op, decision, time) for people.
//!
//! Invariants:
//! - A line is written whole or not at all: one `write(2)` on an
//!   `O_APPEND|O_NOFOLLOW` file; a short write is cut back off the file
//!   before the error is returned, so no later line follows a torn one.
//! - A line never contains a raw newline; producers' bodies are checked.
//! - An append that fails returns an error (the caller denies); a failed
//!   `fdatasync` is latched: every append fails until a later sync
//!   succeeds, so no decision goes on while its predecessors may be lost.
//! - The chain continues across rotated files; a log found in the old,
//!   unchained format is kept aside (`<svc>.legacy.jsonl`) and the new
//!   chain's first line records its SHA-256.

#![forbid(unsafe_code)]

mod config;
pub mod files;
mod journal;
pub mod line;
pub mod show;
pub mod verify;

pub use config::{
    FlushMode, JournalConfig, DEFAULT_KEEP_FILES, DEFAULT_MAX_FILE_BYTES, DEFAULT_WINDOW,
};
pub use journal::{Journal, RotateHook};

use nexus_core::{Coded, ErrorCode};

/// Why an audit log operation failed. Every variant is `EIO`: an
/// operation that cannot be audited does not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The operating system refused an open, write, sync or rename.
    #[error("audit log I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Only part of a line reached the file (it was cut back off).
    #[error("audit line only partly written")]
    ShortWrite,
    /// A producer's line is not one JSON object on one line.
    #[error("audit line is malformed: {0}")]
    Malformed(&'static str),
    /// An earlier `fdatasync` failed; lines may have been lost, so nothing
    /// more is logged until a sync succeeds again.
    #[error("audit log sync failed earlier; refusing new lines until a sync succeeds")]
    SyncFailed,
    /// The log was closed (the daemon is stopping).
    #[error("audit log is closed")]
    Closed,
    /// A log file is not what its name says (a symlink, not a file, or
    /// lines that do not parse where the writer must continue a chain).
    #[error("audit log file {file} is unusable: {reason}")]
    Unusable {
        /// The file's name.
        file: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Coded for AuditError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}
