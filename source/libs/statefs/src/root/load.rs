//! Attaching a state root at start: clear orphaned temp files, load the
//! newest good snapshot, replay the journal after it, settle what a crash
//! left pending; or, on the first start under a root, adopt the records as
//! they are.
//!
//! Adoption (the upgrade from a state directory written before state roots
//! existed) happens only when nothing says a root ever existed: no
//! snapshot file, no state line in the journal, and no owned record in the
//! keyed layout-2 envelope. Otherwise a missing or unreadable root is
//! *damage*: every owned record is `EIO`, the daemon still starts.

use super::lines::{self, Kind, Parsed, St};
use super::snapshot::{self, Snapshot};
use super::{lock, sha256, Pending, Root, RootConfig, RootReport, Slot, Snaps, Table};
use crate::counter::RollbackCounter;
use crate::disk::{Disk, RESERVED};
use crate::key::StateKey;
use crate::path::StatePath;
use crate::record::{self, TagCheck};
use crate::StateError;
use auditlog::files::{self, FileKind, Item, LineReader};
use auditlog::line;
use std::sync::{Arc, Condvar, Mutex};

/// The software rollback counter: a keyed record at
/// `state:/root/<service>.ctr`, beside the snapshots.
struct FileCounter {
    disk: Arc<Disk>,
    key: Arc<StateKey>,
    path: StatePath,
    lock: Mutex<()>,
}

const CTR_MAGIC: &[u8; 4] = b"NXCT";

impl RollbackCounter for FileCounter {
    fn read(&self) -> Result<u64, StateError> {
        let Some(bytes) = self.disk.read(&self.path)? else {
            return Ok(0);
        };
        let rec = record::decode_with(
            &self.path,
            &bytes,
            CTR_MAGIC,
            &[1],
            TagCheck::Key(&self.key),
        )?;
        let b: [u8; 8] = rec.payload.try_into().map_err(|_| StateError::Corrupt {
            path: self.path.to_string(),
            reason: "counter is not 8 bytes",
        })?;
        Ok(u64::from_be_bytes(b))
    }

    fn advance(&self, to: u64) -> Result<(), StateError> {
        let _g = lock(&self.lock);
        if to <= self.read()? {
            return Ok(());
        }
        let bytes = record::encode_v2(
            &self.path,
            CTR_MAGIC,
            1,
            to,
            &to.to_be_bytes(),
            Some(&self.key),
        );
        let mut tmp = self.disk.write_temp(&self.path, &bytes)?;
        tmp.rename()?;
        tmp.sync_dir()
    }
}

enum SlotRead {
    Missing,
    Good(u64, Snapshot),
    Bad(String),
}

fn read_slot(disk: &Disk, key: &StateKey, service: &str, slot: u8) -> SlotRead {
    let Some(path) = snapshot::slot_path(service, slot) else {
        return SlotRead::Bad("bad service name".into());
    };
    let bytes = match disk.read(&path) {
        Ok(Some(b)) => b,
        Ok(None) => return SlotRead::Missing,
        Err(e) => return SlotRead::Bad(e.to_string()),
    };
    let rec = match record::decode_with(
        &path,
        &bytes,
        snapshot::MAGIC,
        &[snapshot::VERSION],
        TagCheck::Key(key),
    ) {
        Ok(r) => r,
        Err(e) => return SlotRead::Bad(e.to_string()),
    };
    match Snapshot::decode(rec.payload) {
        Ok(s) if s.service == service => SlotRead::Good(rec.generation, s),
        Ok(_) => SlotRead::Bad(format!("{path}: another service's snapshot")),
        Err(why) => SlotRead::Bad(format!("{path}: {why}")),
    }
}

/// Called with each journal line and its file's name; `Ok(false)` stops.
type EachLine<'a> = dyn FnMut(&str, Vec<u8>) -> Result<bool, String> + 'a;

/// Every chained line of the journal, in order, with its file's name.
fn journal_lines(journal: &auditlog::Journal, each: &mut EachLine<'_>) -> Result<(), String> {
    let list = files::list(journal.dir(), journal.service()).map_err(|e| e.to_string())?;
    for f in list {
        if matches!(f.kind, FileKind::Legacy(_)) {
            continue;
        }
        let file = files::open_log(&f.path).map_err(|e| format!("{}: {e}", f.name))?;
        let mut r = LineReader::new(file);
        while let Some(item) = r.next_item().map_err(|e| format!("{}: {e}", f.name))? {
            match item {
                Item::Line(l) => {
                    if !each(&f.name, l)? {
                        return Ok(());
                    }
                }
                Item::TooLong(_) => return Err(format!("{}: a line too long", f.name)),
                Item::Partial(_) => {}
            }
        }
    }
    Ok(())
}

fn apply(t: &mut Table, kind: Kind, path: StatePath, st: St) {
    t.gen = t.gen.max(st.gen());
    let slot = t.entries.entry(path).or_default();
    match kind {
        Kind::Change => slot.pending = Some(Pending::Line(st)),
        Kind::Commit | Kind::Settle => {
            slot.committed = Some(st);
            slot.pending = None;
        }
        Kind::Abort => slot.pending = None,
    }
}

/// Replay the journal after `snap`'s checkpoint into `t`; the number of
/// lines replayed, or why the journal cannot be trusted.
fn replay(
    root_key: &StateKey,
    journal: &auditlog::Journal,
    snap: &Snapshot,
    t: &mut Table,
) -> Result<usize, String> {
    let mut expect = (snap.checkpoint_seq, snap.checkpoint_head);
    let mut replayed = 0usize;
    journal_lines(journal, &mut |file, l| {
        let Some(c) = line::chain_fields(&l) else {
            return Err(format!(
                "{file}: a line without chain fields after the checkpoint"
            ));
        };
        if c.seq <= snap.checkpoint_seq {
            if c.seq == snap.checkpoint_seq && line::hash(&l) != snap.checkpoint_head {
                return Err(format!(
                    "{file}: line {} differs from the checkpoint",
                    c.seq
                ));
            }
            return Ok(true);
        }
        if c.seq != expect.0 + 1 || c.prev != expect.1 {
            return Err(format!("{file}: the chain breaks at seq {}", c.seq));
        }
        if lines::is_state_line(&l) {
            match lines::parse(root_key, &l) {
                Ok(Parsed::Record { kind, path, st }) => apply(t, kind, path, st),
                Ok(Parsed::Adopt { .. }) => {}
                Err(why) => return Err(format!("{file}: seq {}: {why}", c.seq)),
            }
        }
        expect = (c.seq, line::hash(&l));
        replayed += 1;
        Ok(true)
    })?;
    let next = journal.position().next_seq;
    if next <= snap.checkpoint_seq {
        return Err(format!(
            "the journal ends at seq {} before the checkpoint at {}",
            next.saturating_sub(1),
            snap.checkpoint_seq
        ));
    }
    Ok(replayed)
}

fn has_state_lines(journal: &auditlog::Journal) -> Result<bool, String> {
    let mut found = false;
    journal_lines(journal, &mut |_, l| {
        found = lines::is_state_line(&l);
        Ok(!found)
    })?;
    Ok(found)
}

fn owned_files(disk: &Disk, owns: &crate::owner::Ownership) -> Result<Vec<StatePath>, StateError> {
    let mut out = Vec::new();
    for r in owns.search_roots() {
        out.extend(disk.walk(&r)?.into_iter().filter(|p| owns.owns(p)));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Attach a root over `disk` as `cfg` says.
pub(crate) fn attach(
    disk: Arc<Disk>,
    cfg: RootConfig,
) -> Result<(Arc<Root>, RootReport), StateError> {
    let mut report = RootReport::default();
    for r in cfg.owns.search_roots() {
        if r.segments()
            .first()
            .is_some_and(|s| RESERVED.contains(&s.as_str()))
        {
            continue;
        }
        report.temp_removed += disk.remove_temps(&r, &|p| cfg.owns.owns(p))?;
    }
    let own_prefix = format!("{}.", cfg.service);
    let root_dir = StatePath::from_segments(["root"])?;
    report.temp_removed += disk.remove_temps(&root_dir, &|p| {
        p.segments().len() == 2 && p.file_name().is_some_and(|n| n.starts_with(&own_prefix))
    })?;

    let slots = [
        read_slot(&disk, &cfg.key, &cfg.service, 0),
        read_slot(&disk, &cfg.key, &cfg.service, 1),
    ];
    let mut snaps = Snaps::default();
    let mut best: Option<(u8, u64, &Snapshot)> = None;
    let mut bad: Vec<String> = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        match s {
            SlotRead::Good(gen, snap) => {
                snaps.checkpoints[i] = Some(snap.checkpoint_seq);
                let newer = best
                    .is_none_or(|(_, g, b)| (*gen, snap.checkpoint_seq) > (g, b.checkpoint_seq));
                if newer {
                    best = Some((i as u8, *gen, snap));
                }
            }
            SlotRead::Bad(why) => bad.push(why.clone()),
            SlotRead::Missing => {}
        }
    }
    let counter: Box<dyn RollbackCounter> = match cfg.counter {
        Some(c) => c,
        None => Box::new(FileCounter {
            disk: Arc::clone(&disk),
            key: Arc::clone(&cfg.key),
            path: root_dir.join(&format!("{}.ctr", cfg.service))?,
            lock: Mutex::new(()),
        }),
    };
    let mut table = Table::default();
    let mut damaged: Option<String> = None;
    let mut adopt: Option<Vec<(StatePath, St)>> = None;
    match best {
        Some((slot, gen, snap)) => {
            snaps.next_slot = slot ^ 1;
            table.gen = gen;
            for (p, committed, pending) in &snap.entries {
                table.entries.insert(
                    p.clone(),
                    Slot {
                        committed: *committed,
                        pending: pending.map(Pending::Line),
                    },
                );
            }
            match replay(&cfg.key, &cfg.journal, snap, &mut table) {
                Ok(n) => report.replayed = n,
                Err(why) => damaged = Some(why),
            }
        }
        None if !bad.is_empty() => {
            damaged = Some(format!("no readable snapshot ({})", bad.join("; ")))
        }
        None => match has_state_lines(&cfg.journal) {
            Err(why) => damaged = Some(why),
            Ok(true) => damaged = Some("no snapshot, but the journal holds state changes".into()),
            Ok(false) => {
                let mut entries = Vec::new();
                for p in owned_files(&disk, &cfg.owns)? {
                    let bytes = match disk.read(&p) {
                        Ok(Some(b)) => b,
                        Ok(None) => continue,
                        Err(e) => {
                            damaged = Some(format!("cannot adopt {p}: {e}"));
                            break;
                        }
                    };
                    if record::looks_keyed_v2(&bytes) {
                        damaged = Some(format!(
                            "{p} was written under a state root, but there is no snapshot"
                        ));
                        break;
                    }
                    entries.push((
                        p,
                        St::Present {
                            gen: 0,
                            digest: sha256(&bytes),
                        },
                    ));
                }
                if damaged.is_none() {
                    adopt = Some(entries);
                }
            }
        },
    }
    if damaged.is_none() {
        match counter.read() {
            Ok(c) if c > table.gen => {
                damaged = Some(format!(
                    "older than its rollback counter (generation {} < {c})",
                    table.gen
                ))
            }
            Ok(_) => {}
            Err(e) => damaged = Some(format!("rollback counter unreadable: {e}")),
        }
    }
    let root = Arc::new(Root {
        service: cfg.service,
        key: cfg.key,
        owns: cfg.owns,
        journal: cfg.journal,
        clock: cfg.clock,
        counter,
        snapshot_every: cfg.snapshot_every.max(1),
        disk,
        table: Mutex::new(table),
        cond: Condvar::new(),
        snaps: Mutex::new(snaps),
        damaged: damaged.clone(),
        #[cfg(test)]
        crash: Mutex::new(None),
    });
    report.damaged = damaged;
    if report.damaged.is_some() {
        return Ok((root, report));
    }
    if let Some(entries) = adopt {
        let n = entries.len();
        {
            let mut t = lock(&root.table);
            for (p, st) in entries {
                t.entries.insert(
                    p,
                    Slot {
                        committed: Some(st),
                        pending: None,
                    },
                );
            }
        }
        root.snapshot()?;
        let time = root.clock.now_unix();
        root.journal
            .append_with(|seq, prev| lines::adopt_line(&root.key, seq, prev, time, n, 0))?;
        report.adopted = Some(n);
    } else {
        report.settled = settle(&root)?;
        if report.replayed > 0 || report.settled > 0 {
            root.snapshot()?;
        } else if let Some(pin) = lock(&root.snaps).checkpoints.iter().flatten().min() {
            root.journal.set_pin(pin + 1);
        }
    }
    let weak = Arc::downgrade(&root);
    root.journal.set_rotate_hook(Box::new(move || {
        if let Some(r) = weak.upgrade() {
            if let Err(e) = r.snapshot() {
                eprintln!(
                    "{}: state root snapshot after rotation failed: {e}",
                    r.service
                );
            }
        }
    }));
    Ok((root, report))
}

/// Settle every change a crash left pending by what is on disk; journal
/// each settlement. Returns how many were settled.
fn settle(root: &Root) -> Result<usize, StateError> {
    let pending: Vec<(StatePath, Option<St>, St)> = {
        let t = lock(&root.table);
        t.entries
            .iter()
            .filter_map(|(p, s)| s.pending_st().map(|st| (p.clone(), s.committed, st)))
            .collect()
    };
    let mut settled = 0;
    for (path, committed, pending) in pending {
        let on_disk = root.disk.read(&path)?.map(|b| sha256(&b));
        let matches = |st: Option<St>| match (st, on_disk) {
            (Some(St::Present { digest, .. }), Some(d)) => digest == d,
            (None | Some(St::Deleted { .. }), None) => true,
            _ => false,
        };
        let outcome = if matches(Some(pending)) {
            Some(pending)
        } else if matches(committed) {
            committed
        } else {
            // Neither what was being written nor what was there before:
            // not a crash. The record stays as the root says (so `EIO`).
            let mut t = lock(&root.table);
            if let Some(s) = t.entries.get_mut(&path) {
                s.pending = None;
            }
            continue;
        };
        let mut t = lock(&root.table);
        let st = outcome.unwrap_or(St::Deleted { gen: pending.gen() });
        let time = root.clock.now_unix();
        root.journal.append_with(|seq, prev| {
            lines::record_line(&root.key, seq, prev, time, Kind::Settle, &path, st)
        })?;
        apply(&mut t, Kind::Settle, path, st);
        settled += 1;
    }
    Ok(settled)
}
