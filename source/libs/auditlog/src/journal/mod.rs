//! The writer: one per daemon, shared by every thread that logs.
//!
//! Durability (see [`FlushMode`]): an append returns once its line is
//! written (`write(2)`); in `Sync` mode, once it is also on stable
//! storage. [`Journal::wait_durable`] makes a given line durable, sharing
//! one `fdatasync` among every waiter (group commit): the first waiter
//! syncs everything written so far, later ones wait for that sync or lead
//! the next. In `Group` mode a background flusher syncs whatever was
//! written within the window, so every line is durable at most one window
//! (plus one sync) after it was written.
//!
//! Rotation: once the current file holds `max_file_bytes`, it is synced,
//! renamed `<svc>.<first seq>.jsonl`, and a new current file is created
//! (directory synced); the chain goes on in it. Retention then deletes the
//! oldest rotated files beyond `keep_files`, except those holding lines at
//! or after the pin (the first line a state root still needs to replay).
//! The hook set with [`Journal::set_rotate_hook`] runs on the flusher
//! thread after a rotation, so a state root can checkpoint and move the
//! pin forward.

use crate::config::{FlushMode, JournalConfig};
use crate::files::{self, FileKind};
use crate::line::{self, ChainFields, GENESIS};
use crate::AuditError;
use flush::{flusher, write_whole};
use nexus_core::Clock;
use recover::{
    first_line, open_append, position_after, sha256_file, sync_dir, tail_lines, unusable,
};

mod flush;
mod recover;
use std::fs::{DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Called on the flusher thread after each rotation.
pub type RotateHook = Box<dyn Fn() + Send + Sync>;

/// How far the chain has come: the next line's number and the hash of the
/// last line written (the next line's `prev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPos {
    /// The seq the next line will get.
    pub next_seq: u64,
    /// The hash of line `next_seq - 1` ([`GENESIS`] before line 0).
    pub head: [u8; 32],
}

struct State {
    file: Arc<File>,
    size: u64,
    first_seq: u64,
    pos: ChainPos,
    /// Every line with a seq below this is on stable storage.
    durable_next: u64,
    /// Bytes of the current file known to be on stable storage.
    durable_size: u64,
    syncing: bool,
    sync_failed: bool,
    kicked: bool,
    rotations: u64,
    hooked: u64,
    pin: Option<u64>,
    closed: bool,
}

struct Shared {
    dir: PathBuf,
    svc: String,
    cfg: JournalConfig,
    state: Mutex<State>,
    cond: Condvar,
    hook: Mutex<Option<RotateHook>>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

/// A service's audit log, open for appending. Cheap to clone; clones
/// share the log.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared.dir)
            .field("svc", &self.shared.svc)
            .finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent before anything
    // that can fail (a failed write is cut back off the file first).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Journal {
    /// Open (creating the directory 0700 and the file 0600 if needed) the
    /// log of service `svc` in `dir`, recovering where the chain stands.
    /// Starts the background flusher unless `flush` is `Buffered`.
    pub fn open(
        dir: &Path,
        svc: &str,
        cfg: JournalConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Journal, AuditError> {
        if !files::valid_service(svc) {
            return Err(unusable(svc, "not a valid service name"));
        }
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let cfg = JournalConfig {
            max_file_bytes: cfg.max_file_bytes.max(4096),
            ..cfg
        };
        let current = dir.join(files::current_name(svc));
        let cur_name = files::current_name(svc);
        let mut file = open_append(&current, false)?;
        let lines = tail_lines(&mut file, &cur_name)?;
        let mut start_line: Option<Vec<(&str, String)>> = None;
        let (pos, first_seq) = if lines.is_empty() {
            // Empty: go on from the last rotated file, or begin a chain.
            let rotated = files::list(dir, svc)?
                .into_iter()
                .rfind(|f| matches!(f.kind, FileKind::Rotated(_)));
            let pos = match rotated {
                Some(f) => {
                    let mut rf = files::open_log(&f.path)?;
                    let tail = tail_lines(&mut rf, &f.name)?;
                    position_after(&tail).ok_or_else(|| unusable(&f.name, "no chained line"))?
                }
                None => {
                    start_line = Some(Vec::new());
                    ChainPos {
                        next_seq: 0,
                        head: GENESIS,
                    }
                }
            };
            (pos, pos.next_seq)
        } else {
            let first = first_line(&current)?.unwrap_or_default();
            match line::chain_fields(&first) {
                Some(ChainFields { seq, .. }) => {
                    let pos = position_after(&lines)
                        .ok_or_else(|| unusable(&cur_name, "no chained line in its tail"))?;
                    (pos, seq)
                }
                None => {
                    // The old, unchained format: keep it aside, start the
                    // chain, and bind the old file's digest into line 0.
                    drop(file);
                    let mut n = 0;
                    while dir.join(files::legacy_name(svc, n)).exists() {
                        n += 1;
                    }
                    let legacy = dir.join(files::legacy_name(svc, n));
                    std::fs::rename(&current, &legacy)?;
                    sync_dir(dir)?;
                    let (digest, bytes) = sha256_file(&legacy)?;
                    file = open_append(&current, false)?;
                    start_line = Some(vec![
                        ("legacy_file", format!("\"{}\"", files::legacy_name(svc, n))),
                        ("legacy_sha256", format!("\"{digest}\"")),
                        ("legacy_bytes", bytes.to_string()),
                    ]);
                    (
                        ChainPos {
                            next_seq: 0,
                            head: GENESIS,
                        },
                        0,
                    )
                }
            }
        };
        let size = file.metadata()?.len();
        if cfg.flush != FlushMode::Buffered {
            // A newly created log must survive a crash too.
            sync_dir(dir)?;
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            svc: svc.to_owned(),
            cfg,
            state: Mutex::new(State {
                file: Arc::new(file),
                size,
                first_seq,
                pos,
                durable_next: pos.next_seq,
                durable_size: size,
                syncing: false,
                sync_failed: false,
                kicked: false,
                rotations: 0,
                hooked: 0,
                pin: None,
                closed: false,
            }),
            cond: Condvar::new(),
            hook: Mutex::new(None),
            flusher: Mutex::new(None),
        });
        let journal = Journal { shared };
        if let Some(extra) = start_line {
            let mut body = format!("{{\"time\":{},\"chain\":\"start\"", clock.now_unix());
            for (k, v) in extra {
                body.push_str(&format!(",\"{k}\":{v}"));
            }
            body.push('}');
            journal.append_inner(|seq, prev| line::splice(seq, prev, body.as_bytes()))?;
            journal.wait_durable(journal.position().next_seq.saturating_sub(1))?;
        }
        if cfg.flush != FlushMode::Buffered {
            let weak = Arc::downgrade(&journal.shared);
            let handle = std::thread::Builder::new()
                .name(format!("{svc}-audit-flush"))
                .spawn(move || flusher(weak))?;
            *lock(&journal.shared.flusher) = Some(handle);
        }
        Ok(journal)
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The service whose log this is.
    pub fn service(&self) -> &str {
        &self.shared.svc
    }

    /// The settings.
    pub fn config(&self) -> JournalConfig {
        self.shared.cfg
    }

    /// How many bytes of the current file are known to be on stable
    /// storage (what a power cut would leave; tests simulate one with it).
    pub fn durable_size(&self) -> u64 {
        lock(&self.shared.state).durable_size
    }

    /// Where the chain stands now.
    pub fn position(&self) -> ChainPos {
        lock(&self.shared.state).pos
    }

    /// Append a producer's line body (`{"time":…,…}`); returns its seq. In
    /// `Sync` mode, returns once the line is on stable storage.
    pub fn append(&self, body: &[u8]) -> Result<u64, AuditError> {
        let seq = self.append_inner(|seq, prev| line::splice(seq, prev, body))?;
        if self.shared.cfg.flush == FlushMode::Sync {
            self.wait_durable(seq)?;
        }
        Ok(seq)
    }

    /// Append a line the producer builds whole from its seq and `prev`
    /// (it must start with [`line::prefix`]); returns its seq. Never waits
    /// for stable storage: see [`Journal::wait_durable`].
    pub fn append_with<F>(&self, build: F) -> Result<u64, AuditError>
    where
        F: FnOnce(u64, &[u8; 32]) -> Vec<u8>,
    {
        self.append_inner(|seq, prev| Ok(build(seq, prev)))
    }

    fn append_inner<F>(&self, build: F) -> Result<u64, AuditError>
    where
        F: FnOnce(u64, &[u8; 32]) -> Result<Vec<u8>, AuditError>,
    {
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        if st.closed {
            return Err(AuditError::Closed);
        }
        if st.sync_failed {
            return Err(AuditError::SyncFailed);
        }
        let seq = st.pos.next_seq;
        let line = build(seq, &st.pos.head)?;
        line::check(&line)?;
        if !line.starts_with(line::prefix(seq, &st.pos.head).as_bytes()) {
            return Err(AuditError::Malformed(
                "line does not start with its chain fields",
            ));
        }
        write_whole(&st.file, &line, st.size)?;
        // Lines written before this one that still wait for a sync: the
        // flusher is already counting down its window for them.
        let was_pending = st.durable_next < seq;
        st.size += line.len() as u64;
        st.pos = ChainPos {
            next_seq: seq + 1,
            head: line::hash(&line),
        };
        // Wake the flusher only to start a window (it checks for pending
        // lines under this lock before it sleeps, so none is missed);
        // waking it for every line would cost a thread wakeup per
        // decision for nothing.
        if matches!(sh.cfg.flush, FlushMode::Group(_)) && !was_pending {
            sh.cond.notify_all();
        }
        if st.size >= sh.cfg.max_file_bytes {
            if let Err(e) = self.rotate(&mut st) {
                // The line is written; the next append tries again.
                eprintln!("{}: audit log rotation failed: {e}", sh.svc);
            }
        }
        Ok(seq)
    }

    fn rotate(&self, st: &mut State) -> Result<(), AuditError> {
        let sh = &self.shared;
        if sh.cfg.flush != FlushMode::Buffered {
            st.file.sync_data()?;
            st.durable_next = st.pos.next_seq;
        }
        st.durable_size = 0;
        let current = sh.dir.join(files::current_name(&sh.svc));
        let rotated = sh.dir.join(files::rotated_name(&sh.svc, st.first_seq));
        std::fs::rename(&current, &rotated)?;
        let file = open_append(&current, true)?;
        if sh.cfg.flush != FlushMode::Buffered {
            sync_dir(&sh.dir)?;
        }
        st.file = Arc::new(file);
        st.size = 0;
        st.first_seq = st.pos.next_seq;
        st.rotations += 1;
        self.retain(st)?;
        sh.cond.notify_all();
        Ok(())
    }

    /// Delete the oldest rotated (and legacy) files beyond `keep_files`
    /// whose lines all come before the pin.
    fn retain(&self, st: &State) -> Result<(), AuditError> {
        let sh = &self.shared;
        let old: Vec<_> = files::list(&sh.dir, &sh.svc)?
            .into_iter()
            .filter(|f| f.kind != FileKind::Current)
            .collect();
        let excess = old.len().saturating_sub(sh.cfg.keep_files as usize);
        let mut removed = false;
        for (i, f) in old.iter().enumerate().take(excess) {
            let next_first = match old.get(i + 1).map(|n| n.kind) {
                Some(FileKind::Rotated(s)) => s,
                _ => st.first_seq,
            };
            let needed = matches!(f.kind, FileKind::Rotated(_))
                && st.pin.is_some_and(|pin| next_first > pin);
            if needed {
                break;
            }
            std::fs::remove_file(&f.path)?;
            removed = true;
        }
        if removed && sh.cfg.flush != FlushMode::Buffered {
            sync_dir(&sh.dir)?;
        }
        Ok(())
    }

    /// Lines from `first_needed` on must be kept (a state root replays
    /// from there); files entirely before it may be deleted by retention.
    pub fn set_pin(&self, first_needed: u64) {
        let mut st = lock(&self.shared.state);
        st.pin = Some(first_needed);
        if let Err(e) = self.retain(&st) {
            eprintln!("{}: audit log retention failed: {e}", self.shared.svc);
        }
    }

    /// Run `hook` on the flusher thread after every rotation.
    pub fn set_rotate_hook(&self, hook: RotateHook) {
        *lock(&self.shared.hook) = Some(hook);
    }

    /// Wake the flusher to sync now rather than at the end of its window
    /// (a state change that will wait for its line soon).
    pub fn kick(&self) {
        let mut st = lock(&self.shared.state);
        st.kicked = true;
        self.shared.cond.notify_all();
    }

    /// Return once line `seq` is on stable storage (a no-op in `Buffered`
    /// mode): lead a sync of everything written so far, or wait for the one
    /// in flight.
    pub fn wait_durable(&self, seq: u64) -> Result<(), AuditError> {
        if self.shared.cfg.flush == FlushMode::Buffered {
            return Ok(());
        }
        let sh = &self.shared;
        let mut st = lock(&sh.state);
        loop {
            if st.durable_next > seq {
                return Ok(());
            }
            if st.syncing {
                st = sh.cond.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            st = self.sync_locked(st);
            if st.sync_failed {
                return Err(AuditError::SyncFailed);
            }
        }
    }

    /// Sync everything written so far, with the lock released meanwhile.
    fn sync_locked<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let sh = &self.shared;
        st.syncing = true;
        st.kicked = false;
        let target = st.pos.next_seq;
        let target_size = st.size;
        let file = Arc::clone(&st.file);
        drop(st);
        let result = file.sync_data();
        let mut st = lock(&sh.state);
        st.syncing = false;
        match result {
            Ok(()) => {
                if Arc::ptr_eq(&file, &st.file) {
                    st.durable_size = st.durable_size.max(target_size);
                }
                st.durable_next = st.durable_next.max(target);
                st.sync_failed = false;
            }
            Err(e) => {
                eprintln!("{}: audit log fdatasync failed: {e}", sh.svc);
                st.sync_failed = true;
            }
        }
        sh.cond.notify_all();
        st
    }

    /// Make every line durable, stop the flusher and refuse further lines.
    pub fn close(&self) -> Result<(), AuditError> {
        let next = self.position().next_seq;
        let synced = if next > 0 {
            self.wait_durable(next - 1)
        } else {
            Ok(())
        };
        {
            let mut st = lock(&self.shared.state);
            st.closed = true;
            self.shared.cond.notify_all();
        }
        let handle = lock(&self.shared.flusher).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        synced
    }
}
