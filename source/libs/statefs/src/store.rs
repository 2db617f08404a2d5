//! The store itself: a state directory on disk, or memory in volatile mode.

use crate::path::StatePath;
use crate::record;
use crate::StateError;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Whether state survives a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateMode {
    /// Backed by the state directory at this host path.
    Durable(PathBuf),
    /// Held in memory only; lost when the process exits.
    Volatile,
}

impl fmt::Display for StateMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateMode::Durable(p) => write!(f, "durable ({})", p.display()),
            StateMode::Volatile => f.write_str("volatile"),
        }
    }
}

pub(crate) enum Backend {
    Disk { root: PathBuf, tmp_seq: AtomicU64 },
    Memory(Mutex<BTreeMap<StatePath, Vec<u8>>>),
}

/// A handle on the state store. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct StateFs {
    pub(crate) backend: Arc<Backend>,
}

impl fmt::Debug for StateFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateFs({})", self.mode())
    }
}

fn io_err(path: &StatePath) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_string(),
        source,
    }
}

impl StateFs {
    /// Open (creating if needed, mode 0700) the state directory at `dir`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let root = StatePath::root();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(&root))?;
        let root_dir = fs::canonicalize(dir).map_err(io_err(&root))?;
        Ok(StateFs {
            backend: Arc::new(Backend::Disk {
                root: root_dir,
                tmp_seq: AtomicU64::new(0),
            }),
        })
    }

    /// An in-memory store: the explicit volatile mode.
    pub fn volatile() -> Self {
        StateFs {
            backend: Arc::new(Backend::Memory(Mutex::new(BTreeMap::new()))),
        }
    }

    /// Whether state survives a restart.
    pub fn mode(&self) -> StateMode {
        match &*self.backend {
            Backend::Disk { root, .. } => StateMode::Durable(root.clone()),
            Backend::Memory(_) => StateMode::Volatile,
        }
    }

    /// True in volatile mode.
    pub fn is_volatile(&self) -> bool {
        matches!(&*self.backend, Backend::Memory(_))
    }

    /// Where `path` lives on the host, in durable mode. For tests and
    /// diagnostics; all access goes through the methods below.
    pub fn host_path(&self, path: &StatePath) -> Option<PathBuf> {
        match &*self.backend {
            Backend::Disk { root, .. } => Some(host(root, path)),
            Backend::Memory(_) => None,
        }
    }

    /// The bytes at `path`, or `None` if there is no such file.
    pub fn read(&self, path: &StatePath) -> Result<Option<Vec<u8>>, StateError> {
        match &*self.backend {
            Backend::Disk { root, .. } => match fs::read(host(root, path)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(path)(e)),
            },
            Backend::Memory(m) => Ok(lock(m).get(path).cloned()),
        }
    }

    /// Replace the bytes at `path` atomically (temp, fsync, rename, fsync dir).
    pub fn write(&self, path: &StatePath, bytes: &[u8]) -> Result<(), StateError> {
        let name = path.file_name().ok_or(StateError::Corrupt {
            path: path.to_string(),
            reason: "cannot write the root",
        })?;
        match &*self.backend {
            Backend::Disk { root, tmp_seq } => {
                let target = host(root, path);
                let dir = target.parent().unwrap_or(root).to_path_buf();
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(io_err(path))?;
                let seq = tmp_seq.fetch_add(1, Ordering::Relaxed);
                let tmp = dir.join(format!(".tmp.{name}.{}.{seq}", std::process::id()));
                let result = write_new(&tmp, bytes)
                    .and_then(|()| fs::rename(&tmp, &target))
                    .and_then(|()| sync_dir(&dir));
                if result.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                result.map_err(io_err(path))
            }
            Backend::Memory(m) => {
                lock(m).insert(path.clone(), bytes.to_vec());
                Ok(())
            }
        }
    }

    /// Remove the file at `path`. Returns whether it existed.
    pub fn delete(&self, path: &StatePath) -> Result<bool, StateError> {
        match &*self.backend {
            Backend::Disk { root, .. } => {
                let target = host(root, path);
                match fs::remove_file(&target) {
                    Ok(()) => {
                        let dir = target.parent().unwrap_or(root);
                        sync_dir(dir).map_err(io_err(path))?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io_err(path)(e)),
                }
            }
            Backend::Memory(m) => Ok(lock(m).remove(path).is_some()),
        }
    }

    /// Every file under `prefix` (at any depth), sorted by path. Temp files
    /// and names that are not valid segments are skipped.
    pub fn list(&self, prefix: &StatePath) -> Result<Vec<StatePath>, StateError> {
        match &*self.backend {
            Backend::Disk { root, .. } => {
                let mut out = Vec::new();
                walk(&host(root, prefix), prefix, &mut out)?;
                out.sort();
                Ok(out)
            }
            Backend::Memory(m) => Ok(lock(m)
                .keys()
                .filter(|p| p.starts_with(prefix))
                .cloned()
                .collect()),
        }
    }

    /// Remove every file under `prefix`; returns how many were removed.
    pub fn delete_prefix(&self, prefix: &StatePath) -> Result<usize, StateError> {
        let files = self.list(prefix)?;
        for f in &files {
            self.delete(f)?;
        }
        Ok(files.len())
    }

    /// Read a versioned record (see [`record`]); `None` if absent.
    pub fn read_record(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        supported: &[u16],
    ) -> Result<Option<(u16, Vec<u8>)>, StateError> {
        match self.read(path)? {
            None => Ok(None),
            Some(bytes) => {
                let rec = record::decode(path, &bytes, magic, supported)?;
                Ok(Some((rec.version, rec.payload.to_vec())))
            }
        }
    }

    /// Write a versioned record atomically.
    pub fn write_record(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        version: u16,
        payload: &[u8],
    ) -> Result<(), StateError> {
        self.write(path, &record::encode(magic, version, payload))
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single map operation, so a panic in
    // another holder cannot leave the map half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn host(root: &Path, path: &StatePath) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(path.segments());
    p
}

fn write_new(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn walk(dir: &Path, at: &StatePath, out: &mut Vec<StatePath>) -> Result<(), StateError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(())
        }
        Err(e) => return Err(io_err(at)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(at))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(child) = at.join(&name) else { continue };
        let ft = entry.file_type().map_err(io_err(&child))?;
        if ft.is_dir() {
            walk(&entry.path(), &child, out)?;
        } else if ft.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).unwrap()
    }

    fn both() -> (tempfile::TempDir, Vec<StateFs>) {
        let dir = tempfile::tempdir().unwrap();
        let disk = StateFs::open(&dir.path().join("state")).unwrap();
        (dir, vec![disk, StateFs::volatile()])
    }

    #[test]
    fn write_read_delete_list_in_both_modes() {
        let (_d, stores) = both();
        for s in stores {
            assert_eq!(s.read(&p("state:/a/b")).unwrap(), None);
            s.write(&p("state:/a/b"), b"one").unwrap();
            s.write(&p("state:/a/c/d"), b"two").unwrap();
            s.write(&p("state:/z"), b"three").unwrap();
            s.write(&p("state:/a/b"), b"uno").unwrap();
            assert_eq!(s.read(&p("state:/a/b")).unwrap().unwrap(), b"uno");
            assert_eq!(
                s.list(&p("state:/a")).unwrap(),
                vec![p("state:/a/b"), p("state:/a/c/d")]
            );
            assert_eq!(s.list(&p("state:/nothing")).unwrap(), vec![]);
            assert!(s.delete(&p("state:/a/b")).unwrap());
            assert!(!s.delete(&p("state:/a/b")).unwrap());
            assert_eq!(s.delete_prefix(&p("state:/a")).unwrap(), 1);
            assert_eq!(s.list(&StatePath::root()).unwrap(), vec![p("state:/z")]);
        }
    }

    #[test]
    fn modes_are_explicit() {
        let (_d, stores) = both();
        assert!(!stores[0].is_volatile());
        assert!(matches!(stores[0].mode(), StateMode::Durable(_)));
        assert!(stores[1].is_volatile());
        assert_eq!(stores[1].mode().to_string(), "volatile");
        assert!(stores[1].host_path(&p("state:/a")).is_none());
    }

    #[test]
    fn files_are_private() {
        let (_d, stores) = both();
        let s = &stores[0];
        s.write(&p("state:/k/secret"), b"x").unwrap();
        let f = s.host_path(&p("state:/k/secret")).unwrap();
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let d = f.parent().unwrap();
        assert_eq!(fs::metadata(d).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn leftover_temp_file_from_a_crash_is_invisible() {
        let (_d, stores) = both();
        let s = &stores[0];
        s.write(&p("state:/t/rec"), b"old").unwrap();
        // A crash between write and rename leaves a temp file beside the target.
        let host = s.host_path(&p("state:/t/rec")).unwrap();
        fs::write(host.with_file_name(".tmp.rec.1.0"), b"new-but-unrenamed").unwrap();
        assert_eq!(s.read(&p("state:/t/rec")).unwrap().unwrap(), b"old");
        assert_eq!(s.list(&p("state:/t")).unwrap(), vec![p("state:/t/rec")]);
    }

    #[test]
    fn records_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateFs::open(dir.path()).unwrap();
        s.write_record(&p("state:/r"), b"TEST", 1, b"payload")
            .unwrap();
        drop(s);
        let s = StateFs::open(dir.path()).unwrap();
        let (v, body) = s
            .read_record(&p("state:/r"), b"TEST", &[1])
            .unwrap()
            .unwrap();
        assert_eq!((v, body.as_slice()), (1, &b"payload"[..]));
    }

    #[test]
    fn test_reject_corrupt_record_with_eio() {
        use nexus_core::{Coded, ErrorCode};
        let dir = tempfile::tempdir().unwrap();
        let s = StateFs::open(dir.path()).unwrap();
        s.write_record(&p("state:/r"), b"TEST", 1, b"payload")
            .unwrap();
        let host = s.host_path(&p("state:/r")).unwrap();
        let mut bytes = fs::read(&host).unwrap();
        bytes[12] ^= 1;
        fs::write(&host, &bytes).unwrap();
        let err = s.read_record(&p("state:/r"), b"TEST", &[1]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Eio);
        // The corrupt file is left in place for inspection, not reset.
        assert_eq!(fs::read(&host).unwrap(), bytes);
    }
}
