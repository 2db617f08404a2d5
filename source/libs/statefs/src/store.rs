//! The store itself: a state directory on disk (with, in a daemon, its
//! state root attached), or memory in volatile mode.
//!
//! Routing: a path the attached root owns goes through the root (reads are
//! checked against it; writes and deletes are state changes); any other
//! path is read directly (records another daemon writes, like the trust
//! store, are checked by their readers), and writing it is refused. Before
//! a root is attached (and in tools and tests that never attach one) every
//! path is plain.

use crate::disk::Disk;
use crate::key::StateKey;
use crate::owner::Ownership;
use crate::path::StatePath;
use crate::record::{self, TagCheck};
use crate::root::{self, Root, RootConfig, RootReport};
use crate::StateError;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How often a rooted read is retried when a write of the same record
/// committed between its read and its check.
const READ_RETRIES: u32 = 8;

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

/// A record as read, with what its envelope says.
pub struct StoredRecord {
    /// The format version.
    pub version: u16,
    /// The state root generation it was written at (0: none).
    pub generation: u64,
    /// The payload (zeroized when dropped).
    pub payload: Zeroizing<Vec<u8>>,
    /// The file's size, envelope included.
    pub file_len: usize,
}

impl fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredRecord")
            .field("version", &self.version)
            .field("generation", &self.generation)
            .field("file_len", &self.file_len)
            .finish_non_exhaustive()
    }
}

/// A record's payload, zeroized when dropped.
pub type Payload = Zeroizing<Vec<u8>>;

/// Makes a file's bytes for a generation, under a key when there is one.
type MakeBytes<'a> = dyn FnMut(u64, Option<&StateKey>) -> Zeroizing<Vec<u8>> + 'a;

/// How long a free-space reading is reused.
const FREE_SPACE_TTL: Duration = Duration::from_millis(100);

pub(crate) struct Reserve {
    bytes: AtomicU64,
    cached: Mutex<Option<(Instant, u64)>>,
}

pub(crate) enum Backend {
    Disk {
        disk: Arc<Disk>,
        root: OnceLock<Arc<Root>>,
        reserve: Reserve,
    },
    Memory(Mutex<BTreeMap<StatePath, Vec<u8>>>),
}

/// A handle on the state store. Cheap to clone; clones share the store
/// (and its root, once attached).
#[derive(Clone)]
pub struct StateFs {
    pub(crate) backend: Arc<Backend>,
}

impl fmt::Debug for StateFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateFs({})", self.mode())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single map operation or a cached value,
    // so a panic in another holder cannot leave it half-updated.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

enum Route<'a> {
    Memory(&'a Mutex<BTreeMap<StatePath, Vec<u8>>>),
    Plain(&'a Disk),
    Rooted(&'a Root),
    Foreign(&'a Disk),
}

impl StateFs {
    /// Open (creating if needed, mode 0700) the state directory at `dir`.
    /// Refused (`EIO`) unless it is a directory owned by the effective uid
    /// and not writable by group or others.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        Ok(StateFs {
            backend: Arc::new(Backend::Disk {
                disk: Arc::new(Disk::open(dir)?),
                root: OnceLock::new(),
                reserve: Reserve {
                    bytes: AtomicU64::new(0),
                    cached: Mutex::new(None),
                },
            }),
        })
    }

    /// An in-memory store: the explicit volatile mode. It has no state
    /// root: nothing in it outlives the process.
    pub fn volatile() -> Self {
        StateFs {
            backend: Arc::new(Backend::Memory(Mutex::new(BTreeMap::new()))),
        }
    }

    /// Whether state survives a restart.
    pub fn mode(&self) -> StateMode {
        match &*self.backend {
            Backend::Disk { disk, .. } => StateMode::Durable(disk.root().to_path_buf()),
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
            Backend::Disk { disk, .. } => Some(disk.host(path)),
            Backend::Memory(_) => None,
        }
    }

    /// Attach the daemon's state root (durable mode, once): clears the
    /// owned orphaned temp files, loads or adopts the root. A root found
    /// damaged is reported, not an error: its records are then `EIO`.
    pub fn attach_root(&self, cfg: RootConfig) -> Result<RootReport, StateError> {
        let Backend::Disk { disk, root, .. } = &*self.backend else {
            return Err(StateError::NoRoot("volatile mode has no state root"));
        };
        if root.get().is_some() {
            return Err(StateError::NoRoot("a state root is already attached"));
        }
        let (r, report) = root::load::attach(Arc::clone(disk), cfg)?;
        root.set(r)
            .map_err(|_| StateError::NoRoot("a state root is already attached"))?;
        Ok(report)
    }

    /// Whether a state root is attached.
    pub fn has_root(&self) -> bool {
        self.root().is_some()
    }

    /// Why the attached root is damaged, if it is.
    pub fn root_damage(&self) -> Option<String> {
        self.root().and_then(|r| r.damage().map(str::to_owned))
    }

    /// A clean stop: the root's last snapshot, so the next start replays
    /// nothing. A no-op without a root.
    pub fn close(&self) -> Result<(), StateError> {
        match self.root() {
            Some(r) => r.close(),
            None => Ok(()),
        }
    }

    /// Take a snapshot of the root now (tests, tools).
    pub fn snapshot_root(&self) -> Result<(), StateError> {
        match self.root() {
            Some(r) => r.snapshot(),
            None => Err(StateError::NoRoot("no state root is attached")),
        }
    }

    pub(crate) fn root(&self) -> Option<&Root> {
        match &*self.backend {
            Backend::Disk { root, .. } => root.get().map(|r| &**r),
            Backend::Memory(_) => None,
        }
    }

    fn route(&self, path: &StatePath) -> Route<'_> {
        match &*self.backend {
            Backend::Memory(m) => Route::Memory(m),
            Backend::Disk { disk, root, .. } => match root.get() {
                None => Route::Plain(disk),
                Some(r) if r.owns(path) => Route::Rooted(r),
                Some(_) => Route::Foreign(disk),
            },
        }
    }

    fn disk(&self) -> Option<&Disk> {
        match &*self.backend {
            Backend::Disk { disk, .. } => Some(disk),
            Backend::Memory(_) => None,
        }
    }

    fn read_bytes(&self, path: &StatePath) -> Result<Option<Zeroizing<Vec<u8>>>, StateError> {
        match self.route(path) {
            Route::Memory(m) => Ok(lock(m).get(path).map(|b| Zeroizing::new(b.clone()))),
            Route::Plain(d) | Route::Foreign(d) => d.read(path),
            Route::Rooted(r) => {
                // The file is read without the root's lock, so a writer may
                // commit a newer generation between the read and the check.
                // A mismatch is only reported once the root held still
                // across a read; a writer that never stops changing the
                // record gets its last mismatch reported after a few tries.
                let mut tries = 0;
                loop {
                    let before = r.stamp(path);
                    let bytes = self.disk().map_or(Ok(None), |d| d.read(path))?;
                    match r.check(path, bytes.as_ref().map(|b| b.as_slice())) {
                        Ok(()) => return Ok(bytes),
                        Err(_) if tries < READ_RETRIES && r.stamp(path) != before => tries += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// The bytes at `path`, or `None` if there is no such file. Under a
    /// root, a file that does not match it is `EIO`.
    pub fn read(&self, path: &StatePath) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.read_bytes(path)?.map(|mut z| std::mem::take(&mut *z)))
    }

    fn write_with(&self, path: &StatePath, make: &mut MakeBytes<'_>) -> Result<(), StateError> {
        if path.segments().is_empty() {
            return Err(StateError::Corrupt {
                path: path.to_string(),
                reason: "cannot write the root",
            });
        }
        match self.route(path) {
            Route::Memory(m) => {
                let bytes = make(0, None);
                lock(m).insert(path.clone(), bytes.to_vec());
                Ok(())
            }
            Route::Plain(d) => {
                let bytes = make(0, None);
                let mut tmp = d.write_temp(path, &bytes)?;
                tmp.rename()?;
                tmp.sync_dir()
            }
            Route::Rooted(r) => r.write(path, &mut |gen, key| make(gen, Some(key))),
            Route::Foreign(_) => Err(StateError::NotOwned {
                path: path.to_string(),
            }),
        }
    }

    /// Replace the bytes at `path` atomically (temp, fsync, rename, fsync
    /// dir); under a root, as one journaled state change.
    pub fn write(&self, path: &StatePath, bytes: &[u8]) -> Result<(), StateError> {
        self.write_with(path, &mut |_, _| Zeroizing::new(bytes.to_vec()))
    }

    /// Remove the file at `path`. Returns whether it existed.
    pub fn delete(&self, path: &StatePath) -> Result<bool, StateError> {
        match self.route(path) {
            Route::Memory(m) => Ok(lock(m).remove(path).is_some()),
            Route::Plain(d) => {
                let Some(parent) = d.parent(path)? else {
                    return Ok(false);
                };
                let existed = parent.unlink()?;
                if existed {
                    parent.sync()?;
                }
                Ok(existed)
            }
            Route::Rooted(r) => r.delete(path),
            Route::Foreign(_) => Err(StateError::NotOwned {
                path: path.to_string(),
            }),
        }
    }

    /// Every file under `prefix` (at any depth), sorted by path: what is on
    /// disk and, under a root, what the root says should be (so a missing
    /// record is listed, and reading it is `EIO`). Temp files are skipped;
    /// symlinks and special files are listed (reading them is `EIO`); a
    /// name that is not a valid segment, or `prefix` being something other
    /// than a directory, is `EIO`.
    pub fn list(&self, prefix: &StatePath) -> Result<Vec<StatePath>, StateError> {
        match &*self.backend {
            Backend::Memory(m) => Ok(lock(m)
                .keys()
                .filter(|p| p.starts_with(prefix))
                .cloned()
                .collect()),
            Backend::Disk { disk, root, .. } => {
                let mut out = disk.walk(prefix)?;
                if let Some(r) = root.get() {
                    out.extend(r.paths_under(prefix));
                    out.sort();
                    out.dedup();
                }
                Ok(out)
            }
        }
    }

    /// Remove every file under `prefix` that this store may write (under
    /// a root: only owned ones); returns how many were removed.
    pub fn delete_prefix(&self, prefix: &StatePath) -> Result<usize, StateError> {
        let files = self.list(prefix)?;
        let mut n = 0;
        for f in &files {
            if matches!(self.route(f), Route::Foreign(_)) {
                continue;
            }
            if self.delete(f)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Read a versioned record (see [`record`]) with everything its
    /// envelope says; `None` if absent. Under a root the file is checked
    /// against it; otherwise the record's checksum is checked (a keyed
    /// record needs [`StateFs::read_record_keyed`]).
    pub fn read_record_full(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        supported: &[u16],
    ) -> Result<Option<StoredRecord>, StateError> {
        let check = match self.route(path) {
            Route::Rooted(_) => TagCheck::Trusted,
            _ => TagCheck::Unkeyed,
        };
        self.read_record_checked(path, magic, supported, check)
    }

    fn read_record_checked(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        supported: &[u16],
        check: TagCheck<'_>,
    ) -> Result<Option<StoredRecord>, StateError> {
        let Some(bytes) = self.read_bytes(path)? else {
            return Ok(None);
        };
        let rec = record::decode_with(path, &bytes, magic, supported, check)?;
        Ok(Some(StoredRecord {
            version: rec.version,
            generation: rec.generation,
            payload: Zeroizing::new(rec.payload.to_vec()),
            file_len: bytes.len(),
        }))
    }

    /// Read a versioned record; `None` if absent.
    pub fn read_record(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        supported: &[u16],
    ) -> Result<Option<(u16, Payload)>, StateError> {
        Ok(self
            .read_record_full(path, magic, supported)?
            .map(|r| (r.version, r.payload)))
    }

    /// Read a record that must carry `key`'s MAC (one written with
    /// [`StateFs::write_record_keyed`]); under a root it is also checked
    /// against the root.
    pub fn read_record_keyed(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        supported: &[u16],
        key: &StateKey,
    ) -> Result<Option<StoredRecord>, StateError> {
        self.read_record_checked(path, magic, supported, TagCheck::Key(key))
    }

    /// Write a versioned record atomically: layout 2, with the root's
    /// generation and MAC under a root, checksummed otherwise. The
    /// encoded bytes are zeroized after the write.
    pub fn write_record(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        version: u16,
        payload: &[u8],
    ) -> Result<(), StateError> {
        self.write_with(path, &mut |gen, key| {
            record::encode_v2(path, magic, version, gen, payload, key)
        })
    }

    /// [`StateFs::write_record`] with the MAC of `key` instead of the
    /// root's (a record other daemons read, such as the trust store's
    /// manifest).
    pub fn write_record_keyed(
        &self,
        path: &StatePath,
        magic: &[u8; 4],
        version: u16,
        payload: &[u8],
        key: &StateKey,
    ) -> Result<(), StateError> {
        self.write_with(path, &mut |gen, _| {
            record::encode_v2(path, magic, version, gen, payload, Some(key))
        })
    }

    /// Keep `bytes` of the state file system free for system work:
    /// [`StateFs::reserve_reached`] says when less is left.
    pub fn set_reserve(&self, bytes: u64) {
        if let Backend::Disk { reserve, .. } = &*self.backend {
            reserve.bytes.store(bytes, Ordering::Relaxed);
        }
    }

    /// Bytes free on the state file system (`None` in volatile mode or if
    /// it cannot be read).
    pub fn free_bytes(&self) -> Option<u64> {
        self.disk().and_then(|d| d.free_bytes().ok())
    }

    /// Whether free space is at or below the reserve (never in volatile
    /// mode). Reads the file system at most every 100 ms; an unreadable
    /// file system counts as reached (fail closed).
    pub fn reserve_reached(&self) -> bool {
        let Backend::Disk { disk, reserve, .. } = &*self.backend else {
            return false;
        };
        let want = reserve.bytes.load(Ordering::Relaxed);
        if want == 0 {
            return false;
        }
        let mut c = lock(&reserve.cached);
        let free = match *c {
            Some((at, free)) if at.elapsed() < FREE_SPACE_TTL => free,
            _ => {
                let free = disk.free_bytes().unwrap_or(0);
                *c = Some((Instant::now(), free));
                free
            }
        };
        free <= want
    }

    /// The ownership patterns a daemon declares, parsed (a convenience for
    /// callers building a [`RootConfig`]).
    pub fn ownership(patterns: &[&str]) -> Result<Ownership, StateError> {
        Ok(Ownership::new(patterns)?)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
