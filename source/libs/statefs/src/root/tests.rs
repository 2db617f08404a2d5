//! The state root on real directories: rollback, missing and extra records
//! are `EIO`; adoption of an old directory; restarts; damage; and a crash
//! at every step of a change never making a good record `EIO`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::CrashPoint;
use crate::{Ownership, RootConfig, RootReport, StateError, StateFs, StateKey, StatePath};
use auditlog::{FlushMode, Journal, JournalConfig};
use nexus_core::{Coded, ErrorCode, ManualClock};
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"TEST";

fn p(s: &str) -> StatePath {
    StatePath::parse(s).unwrap()
}

pub(crate) struct Env {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) owns: Vec<&'static str>,
    pub(crate) key: u8,
}

pub(crate) struct Open {
    pub(crate) state: StateFs,
    pub(crate) journal: Journal,
    pub(crate) report: RootReport,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            tmp: tempfile::tempdir().unwrap(),
            owns: vec!["recs/**", "shared/*/mine"],
            key: 7,
        }
    }

    pub(crate) fn dir(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    pub(crate) fn open_with(&self, every: u64) -> Open {
        let state = StateFs::open(&self.dir()).unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let journal = Journal::open(
            &self.dir().join("audit"),
            "svc",
            JournalConfig {
                flush: FlushMode::Sync,
                max_file_bytes: 1 << 20,
                keep_files: 3,
            },
            clock.clone(),
        )
        .unwrap();
        let report = state
            .attach_root(RootConfig {
                service: "svc".into(),
                key: Arc::new(StateKey::new(Zeroizing::new([self.key; 32]))),
                owns: Ownership::new(&self.owns).unwrap(),
                journal: journal.clone(),
                clock,
                counter: None,
                snapshot_every: every,
            })
            .unwrap();
        Open {
            state,
            journal,
            report,
        }
    }

    pub(crate) fn open(&self) -> Open {
        self.open_with(1000)
    }

    pub(crate) fn host(&self, s: &str) -> PathBuf {
        let mut h = self.dir();
        h.extend(p(s).segments());
        h
    }
}

fn read(s: &StateFs, path: &str) -> Result<Option<Vec<u8>>, StateError> {
    s.read_record(&p(path), MAGIC, &[1])
        .map(|o| o.map(|(_, b)| b.to_vec()))
}

fn write(s: &StateFs, path: &str, v: &[u8]) {
    s.write_record(&p(path), MAGIC, 1, v).unwrap();
}

fn assert_eio(r: Result<Option<Vec<u8>>, StateError>, needle: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    assert!(e.to_string().contains(needle), "{e}");
}

#[test]
fn records_round_trip_and_survive_restarts_with_and_without_snapshots() {
    let env = Env::new();
    for every in [1000, 1] {
        let o = env.open_with(every);
        write(&o.state, "state:/recs/a", b"one");
        write(&o.state, "state:/recs/b/c", b"two");
        write(&o.state, "state:/recs/a", b"uno");
        assert!(o.state.delete(&p("state:/recs/b/c")).unwrap());
        assert_eq!(read(&o.state, "state:/recs/a").unwrap().unwrap(), b"uno");
        drop(o);
        let o = env.open_with(every);
        assert_eq!(o.report.damaged, None);
        assert_eq!(read(&o.state, "state:/recs/a").unwrap().unwrap(), b"uno");
        assert_eq!(read(&o.state, "state:/recs/b/c").unwrap(), None);
        assert_eq!(
            o.state.list(&p("state:/recs")).unwrap(),
            vec![p("state:/recs/a")]
        );
        o.state.close().unwrap();
    }
    // After a clean close, the next start replays nothing.
    let o = env.open();
    assert_eq!(o.report.replayed, 0);
    assert!(
        auditlog::verify::verify(&env.dir().join("audit"), "svc", &[])
            .unwrap()
            .is_intact()
    );
}

#[test]
fn test_reject_a_record_put_back_from_an_older_copy() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"version one");
    let old = std::fs::read(env.host("state:/recs/k")).unwrap();
    write(&o.state, "state:/recs/k", b"version two (revoked)");
    std::fs::write(env.host("state:/recs/k"), &old).unwrap();
    assert_eio(read(&o.state, "state:/recs/k"), "older than the state root");
    // Also after a restart, from the snapshot or from the journal.
    drop(o);
    let o = env.open();
    assert_eio(read(&o.state, "state:/recs/k"), "older than the state root");
    o.state.snapshot_root().unwrap();
    drop(o);
    let o = env.open();
    assert_eio(read(&o.state, "state:/recs/k"), "state:/recs/k");
    // The file is left as it is, for inspection.
    assert_eq!(std::fs::read(env.host("state:/recs/k")).unwrap(), old);
}

#[test]
fn test_reject_missing_extra_and_returning_records() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/gone", b"x");
    write(&o.state, "state:/recs/deleted", b"y");
    let deleted = std::fs::read(env.host("state:/recs/deleted")).unwrap();
    o.state.delete(&p("state:/recs/deleted")).unwrap();
    std::fs::remove_file(env.host("state:/recs/gone")).unwrap();
    std::fs::write(env.host("state:/recs/deleted"), &deleted).unwrap();
    std::fs::write(env.host("state:/recs/planted"), b"z").unwrap();
    assert_eio(read(&o.state, "state:/recs/gone"), "missing");
    assert_eio(
        read(&o.state, "state:/recs/deleted"),
        "deleted at generation",
    );
    assert_eio(
        read(&o.state, "state:/recs/planted"),
        "not in the state root",
    );
    // A listing names the missing record too, so whoever lists sees it.
    assert!(o
        .state
        .list(&p("state:/recs"))
        .unwrap()
        .contains(&p("state:/recs/gone")));
    // Once a snapshot has dropped the tombstone, the returned file is extra.
    o.state.snapshot_root().unwrap();
    assert_eio(
        read(&o.state, "state:/recs/deleted"),
        "not in the state root",
    );
}

#[test]
fn every_single_bit_flip_of_a_record_is_eio() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"payload");
    let good = std::fs::read(env.host("state:/recs/k")).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        std::fs::write(env.host("state:/recs/k"), &bad).unwrap();
        assert_eq!(
            read(&o.state, "state:/recs/k").unwrap_err().code(),
            ErrorCode::Eio,
            "{i}"
        );
    }
}

#[test]
fn other_daemons_records_are_read_plainly_and_never_written() {
    let env = Env::new();
    let o = env.open();
    std::fs::create_dir_all(env.host("state:/shared/u")).unwrap();
    let theirs = crate::record::encode(MAGIC, 1, b"theirs");
    std::fs::write(env.host("state:/shared/u/theirs"), &theirs).unwrap();
    assert_eq!(
        read(&o.state, "state:/shared/u/theirs").unwrap().unwrap(),
        b"theirs"
    );
    let e = o
        .state
        .write(&p("state:/shared/u/theirs"), b"x")
        .unwrap_err();
    assert!(matches!(e, StateError::NotOwned { .. }), "{e}");
    write(&o.state, "state:/shared/u/mine", b"mine");
    // delete_prefix takes only what is ours.
    assert_eq!(o.state.delete_prefix(&p("state:/shared/u")).unwrap(), 1);
    assert!(env.host("state:/shared/u/theirs").exists());
}

#[test]
fn a_directory_of_the_first_formats_is_adopted_once() {
    let env = Env::new();
    std::fs::create_dir_all(env.host("state:/recs/d")).unwrap();
    let old = crate::record::encode(MAGIC, 1, b"from before");
    std::fs::write(env.host("state:/recs/d/k"), &old).unwrap();
    std::fs::write(env.host("state:/recs/raw.toml"), b"format = 1\n").unwrap();
    // An old, unchained audit log is kept aside.
    std::fs::create_dir_all(env.dir().join("audit")).unwrap();
    std::fs::write(env.dir().join("audit/svc.jsonl"), "{\"time\":1}\n").unwrap();
    let o = env.open();
    assert_eq!(o.report.adopted, Some(2));
    assert_eq!(
        read(&o.state, "state:/recs/d/k").unwrap().unwrap(),
        b"from before"
    );
    assert_eq!(
        o.state.read(&p("state:/recs/raw.toml")).unwrap().unwrap(),
        b"format = 1\n"
    );
    // Adopted records are protected from then on.
    let mut bad = old.clone();
    bad[12] ^= 1;
    std::fs::write(env.host("state:/recs/d/k"), &bad).unwrap();
    assert_eq!(
        read(&o.state, "state:/recs/d/k").unwrap_err().code(),
        ErrorCode::Eio
    );
    std::fs::write(env.host("state:/recs/d/k"), &old).unwrap();
    // A rewrite upgrades the layout.
    write(&o.state, "state:/recs/d/k", b"new");
    assert!(crate::record::looks_keyed_v2(
        &std::fs::read(env.host("state:/recs/d/k")).unwrap()
    ));
    drop(o);
    let o = env.open();
    assert_eq!(o.report.adopted, None);
    assert!(env.dir().join("audit/svc.legacy.jsonl").exists());
}

#[test]
fn test_reject_readoption_once_a_root_existed() {
    // Deleting the snapshots (and the journal) does not make the daemon
    // accept whatever is on disk again.
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"v1");
    o.state.close().unwrap();
    drop(o);
    for slot in ["a", "b", "ctr"] {
        let _ = std::fs::remove_file(env.dir().join(format!("root/svc.{slot}")));
    }
    let o = env.open();
    assert!(
        o.report.damaged.as_deref().unwrap().contains("journal"),
        "{:?}",
        o.report
    );
    assert_eio(read(&o.state, "state:/recs/k"), "damaged");
    drop(o);
    std::fs::remove_dir_all(env.dir().join("audit")).unwrap();
    let o = env.open();
    assert!(
        o.report.damaged.as_deref().unwrap().contains("state root"),
        "{:?}",
        o.report
    );
    // Writes are refused too; unowned paths still work.
    assert!(o
        .state
        .write_record(&p("state:/recs/k"), MAGIC, 1, b"x")
        .is_err());
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_other_slot() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"v1");
    o.state.snapshot_root().unwrap();
    write(&o.state, "state:/recs/k", b"v2");
    o.state.snapshot_root().unwrap();
    write(&o.state, "state:/recs/k", b"v3");
    drop(o);
    // Slot b holds the newest; damage it.
    let b = env.dir().join("root/svc.b");
    let mut bytes = std::fs::read(&b).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&b, &bytes).unwrap();
    let o = env.open();
    assert_eq!(o.report.damaged, None);
    assert_eq!(read(&o.state, "state:/recs/k").unwrap().unwrap(), b"v3");
}

#[test]
fn test_reject_a_changed_journal_or_a_counter_ahead() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"v1");
    o.state.snapshot_root().unwrap();
    write(&o.state, "state:/recs/k", b"v2");
    drop(o);
    let log = env.dir().join("audit/svc.jsonl");
    let good = std::fs::read_to_string(&log).unwrap();
    // Forge the last write line's digest: its MAC no longer holds.
    let forged = good.replacen("\"state\":\"write\"", "\"state\":\"wrote\"", 2);
    std::fs::write(&log, forged).unwrap();
    let o = env.open();
    assert!(o.report.damaged.is_some(), "{:?}", o.report);
    drop(o);
    std::fs::write(&log, &good).unwrap();
    // Cut the journal before the checkpoint.
    let cut: String = good.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, cut).unwrap();
    let o = env.open();
    assert!(o.report.damaged.is_some(), "{:?}", o.report);
    drop(o);
    std::fs::write(&log, &good).unwrap();
    let o = env.open();
    assert_eq!(o.report.damaged, None);
    drop(o);
    // The software counter ahead of the root (the root put back without
    // its counter).
    let a = env.dir().join("root/svc.a");
    let older = std::fs::read(&a).unwrap();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"v3");
    o.state.close().unwrap();
    drop(o);
    std::fs::write(&a, older).unwrap();
    std::fs::remove_file(env.dir().join("root/svc.b")).unwrap();
    std::fs::write(&log, &good).unwrap();
    let o = env.open();
    assert!(
        o.report
            .damaged
            .as_deref()
            .unwrap_or("")
            .contains("rollback counter"),
        "{:?}",
        o.report
    );
}

#[test]
fn orphaned_temp_files_of_owned_records_only_are_removed() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"v1");
    drop(o);
    std::fs::create_dir_all(env.host("state:/shared/u")).unwrap();
    for t in [
        "state:/recs/.tmp.k.123.0",
        "state:/shared/u/.tmp.mine.5.1",
        "state:/shared/u/.tmp.theirs.5.2",
    ] {
        let h = env.host(t.replace("/.tmp", "/x").as_str());
        std::fs::write(h.with_file_name(t.rsplit('/').next().unwrap()), b"partial").unwrap();
    }
    let o = env.open();
    assert_eq!(o.report.temp_removed, 2);
    assert!(env.host("state:/shared/u").join(".tmp.theirs.5.2").exists());
}

#[test]
fn test_reject_symlinks_and_wrong_file_types_with_eio() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/real", b"v");
    std::os::unix::fs::symlink(env.host("state:/recs/real"), env.host("state:/recs/link")).unwrap();
    std::fs::create_dir_all(env.host("state:/other")).unwrap();
    std::os::unix::fs::symlink(env.host("state:/other"), env.host("state:/recs/dirlink")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        env.host("state:/recs/fifo").as_path(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    std::fs::write(env.host("state:/recs/plain"), b"x").unwrap();
    let listed = o.state.list(&p("state:/recs")).unwrap();
    for bad in [
        "state:/recs/link",
        "state:/recs/dirlink",
        "state:/recs/fifo",
    ] {
        assert!(listed.contains(&p(bad)), "{bad} not listed: {listed:?}");
        let e = o.state.read(&p(bad)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio, "{bad}: {e}");
    }
    let e = o.state.read(&p("state:/recs/dirlink/x")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    // A file where a directory should be.
    let e = o.state.list(&p("state:/recs/plain")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
}

/// What a crash at one step leaves, then a restart: the record reads as
/// before or as after, never `EIO`, and the root goes on.
fn crash_then_restart(op: &str, at: CrashPoint, power_loss: bool) {
    let env = Env::new();
    let o = env.open();
    let path = "state:/recs/r";
    if op != "create" {
        write(&o.state, path, b"old");
    }
    let old_bytes = std::fs::read(env.host(path)).ok();
    let root = o.state.root().unwrap();
    root.set_crash(Some(at));
    let result = match op {
        "delete" => o.state.delete(&p(path)).map(|_| ()),
        _ => o.state.write_record(&p(path), MAGIC, 1, b"new"),
    };
    root.set_crash(None);
    let durable = o.journal.durable_size();
    let crashed = result.is_err();
    assert!(
        crashed || (op == "delete" && at == CrashPoint::TempWritten),
        "{op} {at:?} did not stop"
    );
    drop(o);
    if crashed && power_loss {
        let log = env.dir().join("audit/svc.jsonl");
        let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
        f.set_len(durable).unwrap();
        if at == CrashPoint::Renamed {
            // The rename (or unlink) had not reached the disk.
            match &old_bytes {
                Some(b) => std::fs::write(env.host(path), b).unwrap(),
                None => {
                    let _ = std::fs::remove_file(env.host(path));
                }
            }
        }
    }
    let o = env.open();
    assert_eq!(o.report.damaged, None, "{op} {at:?} power={power_loss}");
    let got =
        read(&o.state, path).unwrap_or_else(|e| panic!("{op} {at:?} power={power_loss}: {e}"));
    let new: Option<&[u8]> = if op == "delete" { None } else { Some(b"new") };
    let before: Option<&[u8]> = if op == "create" { None } else { Some(b"old") };
    assert!(
        got.as_deref() == new || got.as_deref() == before,
        "{op} {at:?}: {got:?}"
    );
    assert!(o.report.temp_removed <= 1);
    // The root goes on: a further change, a restart, and it still holds.
    write(&o.state, path, b"later");
    drop(o);
    let o = env.open();
    assert_eq!(read(&o.state, path).unwrap().unwrap(), b"later");
    let leftovers: Vec<_> = std::fs::read_dir(env.host("state:/recs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_crash_at_any_step_of_a_change_never_makes_a_good_record_eio() {
    use CrashPoint::*;
    for op in ["update", "create", "delete"] {
        for at in [Logged, TempWritten, Durable, Renamed, DirSynced, Committed] {
            for power_loss in [false, true] {
                crash_then_restart(op, at, power_loss);
            }
        }
    }
}

#[test]
fn a_crash_while_writing_a_snapshot_loses_nothing() {
    let env = Env::new();
    let o = env.open();
    write(&o.state, "state:/recs/k", b"v1");
    o.state.snapshot_root().unwrap();
    write(&o.state, "state:/recs/k", b"v2");
    let root = o.state.root().unwrap();
    root.set_crash(Some(CrashPoint::SnapshotTemp));
    assert!(o.state.snapshot_root().is_err());
    drop(o);
    let o = env.open();
    assert_eq!(o.report.damaged, None);
    assert_eq!(read(&o.state, "state:/recs/k").unwrap().unwrap(), b"v2");
    assert!(o.report.temp_removed >= 1);
}

#[test]
fn test_reject_unsafe_state_directories() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("s");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o770)).unwrap();
    let e = StateFs::open(&d).unwrap_err();
    assert!(e.to_string().contains("writable by group or others"), "{e}");
    assert_eq!(e.code(), ErrorCode::Eio);
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    StateFs::open(&d).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&d, Some(1), None).unwrap();
        let e = StateFs::open(&d).unwrap_err();
        assert!(e.to_string().contains("not owned"), "{e}");
    }
    // A new directory is created 0700.
    let fresh = tmp.path().join("a/b");
    StateFs::open(&fresh).unwrap();
    for dir in [tmp.path().join("a"), fresh] {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn concurrent_writers_of_one_record_are_serialized() {
    let env = Env::new();
    let o = env.open_with(7);
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let st = o.state.clone();
            s.spawn(move || {
                for i in 0..10u8 {
                    st.write_record(&p("state:/recs/shared"), MAGIC, 1, &[t, i])
                        .unwrap();
                    st.write_record(&p(&format!("state:/recs/own{t}")), MAGIC, 1, &[i])
                        .unwrap();
                    assert!(read(&st, "state:/recs/shared").unwrap().is_some());
                }
            });
        }
    });
    drop(o);
    let o = env.open();
    assert_eq!(o.report.damaged, None);
    assert_eq!(read(&o.state, "state:/recs/own3").unwrap().unwrap(), [9]);
}
