//! One directory level of the store, every entry as it is on disk.
//!
//! [`StateFs::list`] answers "which records are there"; this answers
//! "what is in this directory", for a reader that must not skip what it
//! cannot use: a symlink, a device, a name that is no valid segment, or
//! a file where a directory should be is reported, never passed over.
//!
//! Invariants: nothing is followed (the directory is opened component by
//! component with `O_NOFOLLOW`, so a symlinked directory is reported, not
//! entered); statefs's own temp files (`.tmp.*`, left by a crash) are the
//! only names left out, as in [`StateFs::list`]. At the top level the
//! reserved names (`audit`, `root`, `run`) are left out too.

use crate::path::StatePath;
use crate::store::{Backend, StateFs};
use crate::StateError;

/// What a directory entry is. Symlinks are not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A fifo, socket or device.
    Special,
}

impl EntryKind {
    /// The kind in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "a regular file",
            EntryKind::Dir => "a directory",
            EntryKind::Symlink => "a symbolic link",
            EntryKind::Special => "a special file",
        }
    }
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name (lossily converted if it is not UTF-8).
    pub name: String,
    /// Its state path, if the name is a valid segment.
    pub path: Option<StatePath>,
    /// What it is.
    pub kind: EntryKind,
}

fn corrupt(dir: &StatePath, reason: &'static str) -> StateError {
    StateError::Corrupt {
        path: dir.to_string(),
        reason,
    }
}

pub(crate) fn kind_of(ft: rustix::fs::FileType) -> EntryKind {
    use rustix::fs::FileType;
    match ft {
        FileType::Symlink => EntryKind::Symlink,
        FileType::Directory => EntryKind::Dir,
        FileType::RegularFile => EntryKind::File,
        // A fifo, socket or device.
        _ => EntryKind::Special,
    }
}

impl StateFs {
    /// The entries directly under `dir`, sorted by name, each with what it
    /// is. `None` if `dir` does not exist. `dir` (or a directory above it)
    /// being something other than a directory, a symlink included, is
    /// [`StateError::Corrupt`] naming `dir` (`EIO`): a reader never takes
    /// it for an empty directory.
    pub fn entries(&self, dir: &StatePath) -> Result<Option<Vec<DirEntry>>, StateError> {
        match &*self.backend {
            Backend::Disk { disk, .. } => disk.entries(dir),
            Backend::Memory(m) => {
                let map = crate::store::lock(m);
                let depth = dir.segments().len();
                let mut out: Vec<DirEntry> = Vec::new();
                for p in map.keys().filter(|p| p.starts_with(dir)) {
                    if p.segments().len() == depth {
                        return Err(corrupt(dir, "not a directory"));
                    }
                    let name = &p.segments()[depth];
                    let kind = if p.segments().len() == depth + 1 {
                        EntryKind::File
                    } else {
                        EntryKind::Dir
                    };
                    if out.last().is_some_and(|e| e.name == *name) {
                        continue;
                    }
                    out.push(DirEntry {
                        name: name.clone(),
                        path: dir.join(name).ok(),
                        kind,
                    });
                }
                if out.is_empty() {
                    // Some file above `dir` makes it impossible.
                    let above = dir.segments().len();
                    for n in 1..above {
                        let Ok(prefix) = StatePath::from_segments(&dir.segments()[..n]) else {
                            continue;
                        };
                        if map.contains_key(&prefix) {
                            return Err(corrupt(dir, "a directory above it is a file"));
                        }
                    }
                    return Ok(None);
                }
                Ok(Some(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};
    use std::fs;
    use std::os::unix::fs::symlink;

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).unwrap()
    }

    #[test]
    fn lists_one_level_in_both_modes() {
        let tmp = tempfile::tempdir().unwrap();
        for s in [
            StateFs::open(&tmp.path().join("s")).unwrap(),
            StateFs::volatile(),
        ] {
            assert_eq!(s.entries(&p("state:/d")).unwrap(), None);
            s.write(&p("state:/d/b"), b"1").unwrap();
            s.write(&p("state:/d/a/x"), b"2").unwrap();
            s.write(&p("state:/d/a/y"), b"3").unwrap();
            let got = s.entries(&p("state:/d")).unwrap().unwrap();
            let kinds: Vec<(&str, EntryKind)> =
                got.iter().map(|e| (e.name.as_str(), e.kind)).collect();
            assert_eq!(kinds, [("a", EntryKind::Dir), ("b", EntryKind::File)]);
            assert_eq!(got[1].path, Some(p("state:/d/b")));
            let err = s.entries(&p("state:/d/b")).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Eio);
            let err = s.entries(&p("state:/d/b/c")).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Eio);
        }
    }

    #[test]
    fn test_reject_what_a_reader_must_not_skip() {
        let tmp = tempfile::tempdir().unwrap();
        let s = StateFs::open(&tmp.path().join("s")).unwrap();
        s.write(&p("state:/d/ok"), b"1").unwrap();
        let d = s.host_path(&p("state:/d")).unwrap();
        symlink(d.join("ok"), d.join("link")).unwrap();
        fs::write(d.join("bad name"), b"").unwrap();
        fs::write(d.join(".tmp.ok.1.0"), b"").unwrap();
        fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        symlink(tmp.path().join("elsewhere"), d.join("sub")).unwrap();
        let got = s.entries(&p("state:/d")).unwrap().unwrap();
        let kinds: Vec<(&str, EntryKind, bool)> = got
            .iter()
            .map(|e| (e.name.as_str(), e.kind, e.path.is_some()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bad name", EntryKind::File, false),
                ("link", EntryKind::Symlink, true),
                ("ok", EntryKind::File, true),
                ("sub", EntryKind::Symlink, true),
            ]
        );
        // A symlinked directory is not entered.
        let err = s.entries(&p("state:/d/sub")).unwrap_err();
        assert!(
            matches!(&err, StateError::Corrupt { path, .. } if path == "state:/d/sub"),
            "{err}"
        );
    }
}
