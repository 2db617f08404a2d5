//! The session board: the file through which keymintd publishes its
//! session table's stamp ([`keymint::SessionStamp`]) and keystored reads
//! it without a round trip.
//!
//! keymintd writes `<run>/keymintd.sessions` ([`board_path`]) at start and
//! after every change of its session table, before it acknowledges the
//! change; keystored's vault reads it before it serves a session on the
//! strength of an earlier "active" answer, and asks keymintd again when
//! the stamp it reads is not the one that answer came with.
//!
//! Invariants:
//! - Writer: the file is opened without following a symlink, must be a
//!   regular file owned by keymintd's user, and is made 0600; it is
//!   rewritten in place (same inode, so a reader's descriptor stays
//!   current across keymintd restarts). A stamp is written only if its
//!   epoch is newer than the last one written, under one lock, so the
//!   board never goes back. If a write fails the board is emptied (a
//!   reader then asks keymintd every time); if even that fails, keymintd
//!   stops rather than acknowledge a change the board does not show.
//! - Reader: the same checks on open (regular file, owned by this
//!   process's user or root, not writable by group or others); anything
//!   it cannot open, read whole or parse (wrong length, version or check
//!   value, a torn read) is `None`: "changed", never "unchanged".

use keymint::{SessionStamp, STAMP_LEN};
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The board's file name in the run directory.
pub const BOARD_FILE: &str = "keymintd.sessions";

/// `<run>/keymintd.sessions`.
pub fn board_path(run: &Path) -> PathBuf {
    run.join(BOARD_FILE)
}

fn open(path: &Path, flags: OFlags) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Err(io::Error::other("owned by another user"));
    }
    if flags.contains(OFlags::WRONLY) {
        // Ours (checked above): narrowed, as a widened run directory is.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    } else if meta.mode() & 0o022 != 0 {
        return Err(io::Error::other("writable by group or others"));
    }
    Ok(file)
}

/// keymintd's side: publishes stamps.
#[derive(Debug)]
pub struct SessionBoard {
    file: File,
    /// The epoch last written (`None`: the board is empty).
    written: Mutex<Option<u64>>,
}

impl SessionBoard {
    /// Open (or create) the board at `path` and write `first` on it.
    pub fn create(path: &Path, first: SessionStamp) -> io::Result<SessionBoard> {
        let file = open(path, OFlags::WRONLY | OFlags::CREATE)?;
        let board = SessionBoard {
            file,
            written: Mutex::new(None),
        };
        board.write(&first)?;
        *board.lock() = Some(first.epoch());
        Ok(board)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, s: &SessionStamp) -> io::Result<()> {
        self.file.write_all_at(&s.to_bytes(), 0)?;
        self.file.set_len(STAMP_LEN as u64)
    }

    /// Publish `s` unless a newer stamp is on the board already. On a
    /// failed write the board is emptied and the error returned; when it
    /// cannot even be emptied, `Err` with [`BoardError::Stale`].
    pub fn publish(&self, s: SessionStamp) -> Result<(), BoardError> {
        let mut written = self.lock();
        if written.is_some_and(|w| w >= s.epoch()) {
            return Ok(());
        }
        match self.write(&s) {
            Ok(()) => {
                *written = Some(s.epoch());
                Ok(())
            }
            Err(e) => {
                *written = None;
                match self.file.set_len(0) {
                    Ok(()) => Err(BoardError::Emptied(e)),
                    Err(_) => Err(BoardError::Stale(e)),
                }
            }
        }
    }
}

/// Why a stamp was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoardError {
    /// The write failed; the board is empty now, so readers ask keymintd.
    #[error("cannot write the session board (emptied it): {0}")]
    Emptied(io::Error),
    /// The write failed and the board could not be emptied: it may show a
    /// stamp older than the table.
    #[error("cannot write or empty the session board: {0}")]
    Stale(io::Error),
}

/// keystored's side: reads the stamp.
#[derive(Debug)]
pub struct BoardReader {
    path: PathBuf,
    file: Mutex<Option<Arc<File>>>,
}

impl BoardReader {
    /// A reader of the board at `path` (opened on first use).
    pub fn new(path: PathBuf) -> BoardReader {
        BoardReader {
            path,
            file: Mutex::new(None),
        }
    }

    fn file(&self, fresh: bool) -> Option<Arc<File>> {
        let mut f = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if fresh || f.is_none() {
            *f = open(&self.path, OFlags::RDONLY).ok().map(Arc::new);
        }
        f.clone()
    }

    fn read_from(file: &File) -> Option<SessionStamp> {
        let mut buf = [0u8; STAMP_LEN];
        file.read_exact_at(&mut buf, 0).ok()?;
        SessionStamp::from_bytes(&buf)
    }

    /// The stamp on the board now, or `None` (no board, unreadable,
    /// malformed, torn).
    pub fn read(&self) -> Option<SessionStamp> {
        Self::read_from(&*self.file(false)?)
    }

    /// Like [`BoardReader::read`], but first open the file again (it may
    /// have been replaced by a new one).
    pub fn reread(&self) -> Option<SessionStamp> {
        Self::read_from(&*self.file(true)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn stamp(e: u64) -> SessionStamp {
        SessionStamp::new([5; 16], e)
    }

    #[test]
    fn published_stamps_are_read_back_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = board_path(dir.path());
        let board = SessionBoard::create(&path, stamp(1)).unwrap();
        let reader = BoardReader::new(path.clone());
        assert_eq!(reader.read(), Some(stamp(1)));
        board.publish(stamp(3)).unwrap();
        assert_eq!(reader.read(), Some(stamp(3)));
        board.publish(stamp(2)).unwrap();
        assert_eq!(reader.read(), Some(stamp(3)), "went back");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A restarted keymintd rewrites the same file: the reader's open
        // descriptor sees it.
        let again = SessionBoard::create(&path, SessionStamp::new([6; 16], 0)).unwrap();
        assert_eq!(reader.read(), Some(SessionStamp::new([6; 16], 0)));
        drop(again);
    }

    #[test]
    fn test_reject_missing_malformed_or_unsafe_boards_as_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = board_path(dir.path());
        let reader = BoardReader::new(path.clone());
        assert_eq!(reader.read(), None, "no board");
        for bad in [
            Vec::new(),
            vec![1u8; STAMP_LEN],
            stamp(1).to_bytes()[..STAMP_LEN - 1].to_vec(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(reader.reread(), None, "{bad:?}");
        }
        // Writable by others: refused by the reader, narrowed by the writer.
        // (The reader refuses it before the writer narrows it.)
        std::fs::write(&path, stamp(1).to_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(reader.reread(), None);
        SessionBoard::create(&path, stamp(2)).unwrap();
        assert_eq!(reader.reread(), Some(stamp(2)));
        // A symlink is refused on both sides.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, stamp(1).to_bytes()).unwrap();
        let link = dir.path().join("link");
        symlink(&target, &link).unwrap();
        assert!(SessionBoard::create(&link, stamp(3)).is_err());
        assert_eq!(BoardReader::new(link).read(), None);
        // A directory in its place.
        let d = dir.path().join("dir");
        std::fs::create_dir(&d).unwrap();
        assert!(SessionBoard::create(&d, stamp(3)).is_err());
        assert_eq!(BoardReader::new(d).read(), None);
    }
}
