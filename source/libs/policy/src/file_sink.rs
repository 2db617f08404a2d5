//! The production audit sink: an append-only file.
//!
//! Invariants: the file is opened `O_APPEND` (every write lands at the end,
//! even with several writers), `O_NOFOLLOW` (a planted symlink cannot
//! redirect the log), `O_CLOEXEC`, created `0600`. Each line is exactly one
//! `write(2)`, so concurrent lines never interleave within a line; a short
//! write is an error, never retried (a retry could split a line around
//! another writer's). With [`Durability::Fsync`] a line is on stable
//! storage before the decision is returned.

use crate::audit::{AuditError, AuditSink};
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::Path;

/// Whether each line is flushed to stable storage before the decision
/// returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written to the kernel; may be lost on power failure. Cheaper.
    Buffered,
    /// `fdatasync` after every line; the file's directory is synced once at
    /// open so a newly created log survives a crash too.
    Fsync,
}

/// An append-only audit log file.
#[derive(Debug)]
pub struct FileSink {
    file: File,
    durability: Durability,
}

impl FileSink {
    /// Open (creating `0600` if absent) the log at `path` for appending.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, AuditError> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            path,
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o600),
        )
        .map_err(std::io::Error::from)?;
        let file = File::from(fd);
        if durability == Durability::Fsync {
            sync_parent(path)?;
        }
        Ok(FileSink { file, durability })
    }
}

fn sync_parent(path: &Path) -> Result<(), AuditError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()?;
    Ok(())
}

impl AuditSink for FileSink {
    fn append(&self, line: &[u8]) -> Result<(), AuditError> {
        loop {
            match (&self.file).write(line) {
                Ok(n) if n == line.len() => break,
                Ok(_) => return Err(AuditError::ShortWrite),
                // Nothing was written; trying again cannot split the line.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(AuditError::Io(e)),
            }
        }
        if self.durability == Durability::Fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_whole_lines_and_creates_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        for durability in [Durability::Buffered, Durability::Fsync] {
            let sink = FileSink::open(&path, durability).unwrap();
            sink.append(b"{\"a\":1}\n").unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":1}\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn reopening_appends_never_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "old\n").unwrap();
        FileSink::open(&path, Durability::Buffered)
            .unwrap()
            .append(b"new\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nnew\n");
    }

    #[test]
    fn test_reject_symlinked_log() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("elsewhere");
        let link = dir.path().join("audit.log");
        std::fs::write(&real, "").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = FileSink::open(&link, Durability::Buffered).unwrap_err();
        assert!(matches!(err, AuditError::Io(_)));
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_write_to_full_device() {
        // /dev/full fails every write with ENOSPC: a real full disk.
        let sink = FileSink::open(Path::new("/dev/full"), Durability::Buffered).unwrap();
        let err = sink.append(b"x\n").unwrap_err();
        assert!(matches!(err, AuditError::Io(ref e) if e.raw_os_error() == Some(28)));
        assert_eq!(err.code(), ErrorCode::Eio);
    }
}
