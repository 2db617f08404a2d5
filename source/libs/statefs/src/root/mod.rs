//! The state root: per daemon, what each of its records must be.
//!
//! A daemon's root is a table `path -> (generation, SHA-256 of the file)`
//! for the records it owns ([`crate::Ownership`]), kept in memory, made
//! durable by two things: the *journal* (state lines in the daemon's
//! hash-chained audit log, each MAC'd with the root's key, see [`lines`])
//! and a *snapshot* of the whole table with the journal position it covers
//! (MAC'd, two slots, see [`snapshot`]), taken every so many changes, at
//! each log rotation and at a clean stop. At start the newest good
//! snapshot is loaded and the journal after its checkpoint replayed
//! ([`load`]).
//!
//! A change (write or delete) of a record, in order:
//! 1. take the next generation; build the record (its envelope carries the
//!    generation and a MAC);
//! 2. append a `write`/`delete` line (path, generation, digest) to the
//!    journal: `write(2)` only, and wake the flusher;
//! 3. write and `fdatasync` the temp file (the flusher syncs the journal
//!    meanwhile);
//! 4. wait until the line is durable (group commit: one `fdatasync`
//!    shared with every other line written so far, decisions included);
//! 5. rename over the record (or unlink it), `fsync` the directory;
//! 6. mark it committed and append a `commit` line (`write(2)`; durable
//!    with the next group commit, at most one window later).
//!
//! So a state change costs one `fdatasync` beyond the record's own atomic
//! write. Crash safety: the root never names a file state that was not
//! first written and synced to a temp file; a crash between 2 and 6 leaves
//! the change *pending*, and the next start settles it by looking at the
//! file (old or new, both accepted; `settle` line). No crash makes a good
//! record `EIO`.
//!
//! A read of an owned record compares the file with the table: a file
//! that is older, newer, missing, extra, or a deleted record come back, is
//! [`StateError::Integrity`] (`EIO`) for that record, naming it.

pub(crate) mod lines;
pub(crate) mod load;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;

use crate::counter::RollbackCounter;
use crate::disk::Disk;
use crate::key::StateKey;
use crate::owner::Ownership;
use crate::path::StatePath;
use crate::record;
use crate::StateError;
use auditlog::Journal;
use lines::{Kind, St};
use nexus_core::Clock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use zeroize::Zeroizing;

/// State changes between two snapshots, by default.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 256;

/// What a state root is attached with.
pub struct RootConfig {
    /// The daemon's name (snapshot files are `state:/root/<service>.a|b`).
    pub service: String,
    /// The root's MAC key (from keymintd's `km.state_key`).
    pub key: Arc<StateKey>,
    /// The records the daemon owns.
    pub owns: Ownership,
    /// The daemon's audit log, which carries the state lines.
    pub journal: Journal,
    /// Timestamps of state lines.
    pub clock: Arc<dyn Clock>,
    /// The counter the root's generation must not fall below; `None`: the
    /// software counter, a record at `state:/root/<service>.ctr`.
    pub counter: Option<Box<dyn RollbackCounter>>,
    /// State changes between two snapshots.
    pub snapshot_every: u64,
}

impl std::fmt::Debug for RootConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootConfig")
            .field("service", &self.service)
            .field("owns", &self.owns)
            .finish_non_exhaustive()
    }
}

/// What attaching a root found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootReport {
    /// First start under a root: how many records were adopted as they
    /// were.
    pub adopted: Option<usize>,
    /// Journal lines replayed after the snapshot.
    pub replayed: usize,
    /// Changes left pending by a crash, settled by what is on disk.
    pub settled: usize,
    /// Orphaned temp files removed.
    pub temp_removed: usize,
    /// Why the root cannot be trusted, if it cannot: every owned record
    /// is then `EIO` (the daemon still starts and serves the rest).
    pub damaged: Option<String>,
}

/// Where a simulated crash stops a change (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    Logged,
    TempWritten,
    Durable,
    Renamed,
    DirSynced,
    Committed,
    SnapshotTemp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A generation is taken; nothing is journaled yet.
    Reserved,
    /// The change is journaled.
    Line(St),
}

/// What the root held for one path at one moment ([`Root::stamp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp((Option<St>, Option<Pending>));

#[derive(Debug, Default)]
struct Slot {
    committed: Option<St>,
    pending: Option<Pending>,
}

impl Slot {
    fn pending_st(&self) -> Option<St> {
        match self.pending {
            Some(Pending::Line(st)) => Some(st),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    entries: HashMap<StatePath, Slot>,
    gen: u64,
    changes: u64,
}

#[derive(Debug, Default)]
struct Snaps {
    next_slot: u8,
    checkpoints: [Option<u64>; 2],
}

pub(crate) struct Root {
    service: String,
    key: Arc<StateKey>,
    owns: Ownership,
    journal: Journal,
    clock: Arc<dyn Clock>,
    counter: Box<dyn RollbackCounter>,
    snapshot_every: u64,
    disk: Arc<Disk>,
    table: Mutex<Table>,
    cond: Condvar,
    snaps: Mutex<Snaps>,
    damaged: Option<String>,
    #[cfg(test)]
    crash: Mutex<Option<CrashPoint>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section updates the table in one step after anything
    // that can fail, so a poisoned lock holds a consistent table.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn crash_error(path: &StatePath) -> StateError {
    StateError::Corrupt {
        path: path.to_string(),
        reason: "simulated crash",
    }
}

impl Root {
    pub(crate) fn owns(&self, path: &StatePath) -> bool {
        self.owns.owns(path)
    }

    pub(crate) fn damage(&self) -> Option<&str> {
        self.damaged.as_deref()
    }

    fn integrity(&self, path: &StatePath, reason: String) -> StateError {
        StateError::Integrity {
            path: path.to_string(),
            reason,
        }
    }

    fn refuse_if_damaged(&self, path: &StatePath) -> Result<(), StateError> {
        match &self.damaged {
            Some(why) => Err(self.integrity(
                path,
                format!("the state root of {} is damaged: {why}", self.service),
            )),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    fn crashed(&self, at: CrashPoint) -> bool {
        *lock(&self.crash) == Some(at)
    }

    #[cfg(not(test))]
    fn crashed(&self, _at: CrashPoint) -> bool {
        false
    }

    #[cfg(test)]
    pub(crate) fn set_crash(&self, at: Option<CrashPoint>) {
        *lock(&self.crash) = at;
    }

    /// What the root holds for `path` now. A reader takes it before it
    /// reads the file: if the file then fails [`Root::check`] while the
    /// stamp has changed, a change of `path` was committed between the
    /// read and the check (the file read was right when read), and the
    /// reader reads again instead of reporting a mismatch.
    pub(crate) fn stamp(&self, path: &StatePath) -> Stamp {
        let t = lock(&self.table);
        Stamp(
            t.entries
                .get(path)
                .map_or((None, None), |s| (s.committed, s.pending)),
        )
    }

    /// Whether `bytes` (or no file, `None`) is what the root says `path`
    /// is (or may be, while a change of it is in flight).
    pub(crate) fn check(&self, path: &StatePath, bytes: Option<&[u8]>) -> Result<(), StateError> {
        self.refuse_if_damaged(path)?;
        let t = lock(&self.table);
        let slot = t.entries.get(path);
        let (committed, pending) = slot.map_or((None, None), |s| (s.committed, s.pending_st()));
        match bytes {
            Some(b) => {
                let d = sha256(b);
                let present =
                    |st: Option<St>| matches!(st, Some(St::Present { digest, .. }) if digest == d);
                if present(committed) || present(pending) {
                    return Ok(());
                }
                let reason = match committed {
                    None => format!(
                        "not in the state root of {} (a record it never wrote)",
                        self.service
                    ),
                    Some(St::Deleted { gen }) => {
                        format!("deleted at generation {gen}, but a file is back")
                    }
                    Some(St::Present { gen, .. }) => match record::peek_generation(b) {
                        Some(fg) if fg < gen => {
                            format!("older than the state root (generation {fg} < {gen})")
                        }
                        Some(fg) if fg > gen => {
                            format!("newer than the state root (generation {fg} > {gen})")
                        }
                        _ => format!("does not match the state root (generation {gen})"),
                    },
                };
                Err(self.integrity(path, reason))
            }
            None => {
                let absent = |st: Option<St>| matches!(st, None | Some(St::Deleted { .. }));
                if absent(committed) || matches!(pending, Some(St::Deleted { .. })) {
                    return Ok(());
                }
                let gen = committed.map_or(0, St::gen);
                Err(self.integrity(
                    path,
                    format!("missing (the state root has generation {gen})"),
                ))
            }
        }
    }

    /// Every path under `prefix` the root holds a committed file for (a
    /// record being created shows up once its file is on disk).
    pub(crate) fn paths_under(&self, prefix: &StatePath) -> Vec<StatePath> {
        let t = lock(&self.table);
        t.entries
            .iter()
            .filter(|(p, s)| {
                p.starts_with(prefix) && matches!(s.committed, Some(St::Present { .. }))
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Whether the root says a file is at `path` now.
    fn holds_file(&self, path: &StatePath) -> bool {
        let t = lock(&self.table);
        matches!(
            t.entries.get(path).and_then(|s| s.committed),
            Some(St::Present { .. })
        )
    }

    /// Wait until no change of `path` is in flight, then take the next
    /// generation for one.
    fn reserve(&self, path: &StatePath) -> u64 {
        let mut t = lock(&self.table);
        while t.entries.get(path).is_some_and(|s| s.pending.is_some()) {
            t = self.cond.wait(t).unwrap_or_else(PoisonError::into_inner);
        }
        t.gen += 1;
        let gen = t.gen;
        t.entries.entry(path.clone()).or_default().pending = Some(Pending::Reserved);
        gen
    }

    fn end_pending(&self, t: &mut Table, path: &StatePath) {
        if let Some(slot) = t.entries.get_mut(path) {
            slot.pending = None;
            if slot.committed.is_none() {
                t.entries.remove(path);
            }
        }
        self.cond.notify_all();
    }

    fn append(
        &self,
        t: &mut Table,
        kind: Kind,
        path: &StatePath,
        st: St,
    ) -> Result<u64, StateError> {
        let time = self.clock.now_unix();
        let _ = t;
        Ok(self.journal.append_with(|seq, prev| {
            lines::record_line(&self.key, seq, prev, time, kind, path, st)
        })?)
    }

    /// Journal the change (step 2).
    fn log_change(&self, path: &StatePath, st: St) -> Result<u64, StateError> {
        let mut t = lock(&self.table);
        match self.append(&mut t, Kind::Change, path, st) {
            Ok(seq) => {
                if let Some(slot) = t.entries.get_mut(path) {
                    slot.pending = Some(Pending::Line(st));
                }
                Ok(seq)
            }
            Err(e) => {
                self.end_pending(&mut t, path);
                Err(e)
            }
        }
    }

    fn abort(&self, path: &StatePath, st: St) {
        let mut t = lock(&self.table);
        if let Err(e) = self.append(&mut t, Kind::Abort, path, st) {
            eprintln!(
                "{}: cannot journal an aborted change of {path}: {e}",
                self.service
            );
        }
        self.end_pending(&mut t, path);
    }

    fn commit(&self, path: &StatePath, st: St) {
        let mut t = lock(&self.table);
        if let Some(slot) = t.entries.get_mut(path) {
            slot.committed = Some(st);
        }
        // The change is on disk either way; a lost commit line only leaves
        // it pending until the next start settles it from the file.
        if let Err(e) = self.append(&mut t, Kind::Commit, path, st) {
            eprintln!("{}: cannot journal the commit of {path}: {e}", self.service);
        }
        t.changes += 1;
        self.end_pending(&mut t, path);
    }

    /// Write `path` (the bytes made for the generation given) as one state
    /// change.
    pub(crate) fn write(
        &self,
        path: &StatePath,
        make: &mut dyn FnMut(u64, &StateKey) -> Zeroizing<Vec<u8>>,
    ) -> Result<(), StateError> {
        self.refuse_if_damaged(path)?;
        let gen = self.reserve(path);
        let bytes = make(gen, &self.key);
        let st = St::Present {
            gen,
            digest: sha256(&bytes),
        };
        let seq = self.log_change(path, st)?;
        if self.crashed(CrashPoint::Logged) {
            return Err(crash_error(path));
        }
        self.journal.kick();
        let mut tmp = match self.disk.write_temp(path, &bytes) {
            Ok(t) => t,
            Err(e) => {
                self.abort(path, st);
                return Err(e);
            }
        };
        if self.crashed(CrashPoint::TempWritten) {
            tmp.abandon();
            return Err(crash_error(path));
        }
        if let Err(e) = self.journal.wait_durable(seq) {
            drop(tmp);
            self.abort(path, st);
            return Err(e.into());
        }
        if self.crashed(CrashPoint::Durable) {
            tmp.abandon();
            return Err(crash_error(path));
        }
        if let Err(e) = tmp.rename() {
            drop(tmp);
            self.abort(path, st);
            return Err(e);
        }
        if self.crashed(CrashPoint::Renamed) {
            return Err(crash_error(path));
        }
        let synced = tmp.sync_dir();
        if self.crashed(CrashPoint::DirSynced) {
            return Err(crash_error(path));
        }
        self.commit(path, st);
        if self.crashed(CrashPoint::Committed) {
            return Err(crash_error(path));
        }
        self.maybe_snapshot();
        synced
    }

    /// Delete `path` as one state change; whether a file was there.
    pub(crate) fn delete(&self, path: &StatePath) -> Result<bool, StateError> {
        self.refuse_if_damaged(path)?;
        if !self.holds_file(path) {
            // Nothing the root knows of: remove a stray file, if any,
            // without a state change.
            let Some(parent) = self.disk.parent(path)? else {
                return Ok(false);
            };
            let existed = parent.unlink()?;
            if existed {
                parent.sync()?;
            }
            return Ok(existed);
        }
        let gen = self.reserve(path);
        let st = St::Deleted { gen };
        let seq = self.log_change(path, st)?;
        if self.crashed(CrashPoint::Logged) {
            return Err(crash_error(path));
        }
        self.journal.kick();
        let parent = match self.disk.parent(path) {
            Ok(p) => p,
            Err(e) => {
                self.abort(path, st);
                return Err(e);
            }
        };
        if let Err(e) = self.journal.wait_durable(seq) {
            self.abort(path, st);
            return Err(e.into());
        }
        if self.crashed(CrashPoint::Durable) {
            return Err(crash_error(path));
        }
        let existed = match parent.as_ref().map(|p| p.unlink()).transpose() {
            Ok(e) => e.unwrap_or(false),
            Err(e) => {
                self.abort(path, st);
                return Err(e);
            }
        };
        if self.crashed(CrashPoint::Renamed) {
            return Err(crash_error(path));
        }
        let synced = parent.as_ref().map_or(Ok(()), |p| p.sync());
        if self.crashed(CrashPoint::DirSynced) {
            return Err(crash_error(path));
        }
        self.commit(path, st);
        if self.crashed(CrashPoint::Committed) {
            return Err(crash_error(path));
        }
        self.maybe_snapshot();
        synced.map(|()| existed)
    }

    fn maybe_snapshot(&self) {
        let due = lock(&self.table).changes >= self.snapshot_every;
        if due {
            if let Err(e) = self.snapshot() {
                eprintln!("{}: state root snapshot failed: {e}", self.service);
            }
        }
    }

    /// Write a snapshot of the table into the older slot, move the
    /// journal's pin to what the two slots still need, and raise the
    /// rollback counter to the root's generation.
    pub(crate) fn snapshot(&self) -> Result<(), StateError> {
        let mut snaps = lock(&self.snaps);
        let (payload, gen, checkpoint) = {
            let mut t = lock(&self.table);
            let pos = self.journal.position();
            // A deletion whose unlink is durable needs no tombstone once
            // a snapshot without it exists: a file there later is extra.
            t.entries.retain(|_, s| {
                !(matches!(s.committed, Some(St::Deleted { .. })) && s.pending.is_none())
            });
            let mut entries: Vec<(StatePath, Option<St>, Option<St>)> = t
                .entries
                .iter()
                .map(|(p, s)| (p.clone(), s.committed, s.pending_st()))
                .filter(|(_, c, p)| c.is_some() || p.is_some())
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            t.changes = 0;
            let seq = pos.next_seq.saturating_sub(1);
            let snap = snapshot::Snapshot {
                service: self.service.clone(),
                checkpoint_seq: seq,
                checkpoint_head: pos.head,
                entries,
            };
            (snap.encode(), t.gen, seq)
        };
        let slot = snaps.next_slot;
        let path = snapshot::slot_path(&self.service, slot).ok_or(StateError::Corrupt {
            path: format!("state:/root/{}", self.service),
            reason: "bad service name",
        })?;
        let bytes = record::encode_v2(
            &path,
            snapshot::MAGIC,
            snapshot::VERSION,
            gen,
            &payload,
            Some(&self.key),
        );
        let mut tmp = self.disk.write_temp(&path, &bytes)?;
        if self.crashed(CrashPoint::SnapshotTemp) {
            tmp.abandon();
            return Err(crash_error(&path));
        }
        tmp.rename()?;
        tmp.sync_dir()?;
        snaps.checkpoints[slot as usize] = Some(checkpoint);
        snaps.next_slot = slot ^ 1;
        if let Some(pin) = snaps.checkpoints.iter().flatten().min() {
            self.journal.set_pin(pin + 1);
        }
        self.counter.advance(gen)
    }

    /// A clean stop: a last snapshot, so the next start replays nothing.
    pub(crate) fn close(&self) -> Result<(), StateError> {
        if self.damaged.is_some() {
            return Ok(());
        }
        self.snapshot()
    }
}
