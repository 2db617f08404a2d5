//! Persisted formats under damage and interruption: every byte of
//! vault.kv flipped, truncated / wrong-version / wrong-magic files of each
//! format, a leftover temp file, a failed write and a writer killed with
//! SIGKILL mid-write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use identity::Password;
use nexus_core::{Coded, ErrorCode, ManualClock, SessionId, Subject, UserId};
use statefs::{record, StatePath};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use ui_v18b_host::{caller, entry_name, entry_value, RigConfig, Stack};

/// The payload of a record file as written (layout 2, no state root).
fn payload_of(file: &[u8]) -> &[u8] {
    let header = if file[4..6] == [0xff, 0xff] { 22 } else { 10 };
    &file[header..file.len() - 32]
}

fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

fn alice() -> UserId {
    UserId::new("alice").unwrap()
}

fn app() -> Subject {
    subject("app:com.example.a")
}

/// alice with two entries, logged out (no cache).
fn setup(dir: &Path) -> (Stack, ManualClock) {
    let clock = ManualClock::new(1_700_000_000);
    let s = Stack::open(dir, &clock, RigConfig::default()).unwrap();
    s.identity
        .create_user(&subject("system:identityd"), &alice(), &Password::new("pw"))
        .unwrap();
    let sid = login(&s);
    s.vault.put(&app(), sid, "token", b"old-token").unwrap();
    s.vault.put(&app(), sid, "other", b"old-other").unwrap();
    s.identity.logout(&caller(), sid).unwrap();
    (s, clock)
}

fn login(s: &Stack) -> SessionId {
    s.identity
        .login(&caller(), &alice(), &Password::new("pw"))
        .unwrap()
        .sid
}

fn host(s: &Stack, p: &StatePath) -> PathBuf {
    s.state.host_path(p).unwrap()
}

fn vault_file(s: &Stack) -> PathBuf {
    s.vault_file(&alice())
}

fn assert_old_data(s: &Stack) {
    let sid = login(s);
    assert_eq!(
        s.vault.get(&app(), sid, "token").unwrap().as_slice(),
        b"old-token"
    );
    assert_eq!(s.vault.list(&app(), sid).unwrap(), ["other", "token"]);
    s.identity.logout(&caller(), sid).unwrap();
}

/// Every vault operation of a fresh session fails with `code`, and the
/// file is left exactly as it was.
fn assert_vault_refuses(s: &Stack, code: ErrorCode) {
    let before = fs::read(vault_file(s)).unwrap();
    let sid = login(s);
    assert_eq!(s.vault.get(&app(), sid, "token").unwrap_err().code(), code);
    assert_eq!(s.vault.list(&app(), sid).unwrap_err().code(), code);
    assert_eq!(
        s.vault.put(&app(), sid, "new", b"v").unwrap_err().code(),
        code
    );
    assert_eq!(
        s.vault.delete(&app(), sid, "token").unwrap_err().code(),
        code
    );
    s.identity.logout(&caller(), sid).unwrap();
    assert_eq!(
        fs::read(vault_file(s)).unwrap(),
        before,
        "the damaged vault was rewritten"
    );
}

#[test]
fn test_reject_flipped_byte_anywhere_in_vault_kv_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path());
    let path = vault_file(&s);
    let good = fs::read(&path).unwrap();
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            fs::write(&path, &bad).unwrap();
            assert_vault_refuses(&s, ErrorCode::Eio);
        }
    }
    fs::write(&path, &good).unwrap();
    assert_old_data(&s);
}

#[test]
fn test_reject_truncated_wrong_version_or_wrong_magic_vault_kv_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path());
    let path = vault_file(&s);
    let good = fs::read(&path).unwrap();
    let sealed = payload_of(&good);
    for cut in [0, 1, 9, 10, 40, good.len() - 33, good.len() - 1] {
        fs::write(&path, &good[..cut]).unwrap();
        assert_vault_refuses(&s, ErrorCode::Eio);
    }
    // Intact checksums around a wrong version, a wrong magic, a truncated
    // or extended sealed blob, and an empty payload.
    // Version 1 is the name-bound format: never read at an instance's
    // path.
    for bytes in [
        record::encode(b"NXVK", 1, sealed),
        record::encode(b"NXVK", 3, sealed),
        record::encode(b"NXVK", 0, sealed),
        record::encode(b"NXUR", 2, sealed),
        record::encode(b"NXVK", 2, &sealed[..sealed.len() - 1]),
        record::encode(b"NXVK", 2, &[sealed, &[0]].concat()),
        record::encode(b"NXVK", 2, b""),
    ] {
        fs::write(&path, &bytes).unwrap();
        assert_vault_refuses(&s, ErrorCode::Eio);
    }
    fs::write(&path, &good).unwrap();
    assert_old_data(&s);
}

#[test]
fn test_reject_malformed_user_record_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path());
    let path = host(&s, &identity::user_record_path(&alice()).unwrap());
    let good = fs::read(&path).unwrap();
    let payload = payload_of(&good);
    let mut cases: Vec<Vec<u8>> = (0..good.len())
        .step_by(7)
        .map(|n| good[..n].to_vec())
        .collect();
    cases.extend([
        record::encode(b"NXUR", 3, payload),
        // A current payload is no first-format record.
        record::encode(b"NXUR", 1, payload),
        record::encode(b"NXTH", 2, payload),
        record::encode(b"NXUR", 2, &payload[..payload.len() - 1]),
        record::encode(b"NXUR", 2, &[payload, &[0]].concat()),
    ]);
    for bytes in cases {
        fs::write(&path, &bytes).unwrap();
        let e = s
            .identity
            .login(&caller(), &alice(), &Password::new("pw"))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
        assert_eq!(fs::read(&path).unwrap(), bytes, "record was rewritten");
    }
    fs::write(&path, &good).unwrap();
    assert_old_data(&s);
}

#[test]
fn test_reject_malformed_throttle_record_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path());
    s.identity
        .login(&caller(), &alice(), &Password::new("wrong"))
        .unwrap_err();
    let path = host(&s, &identity::throttle_path(&alice()).unwrap());
    let good = fs::read(&path).unwrap();
    let payload = payload_of(&good);
    // instance, the shared count, one caller: `uid:1000`.
    assert_eq!(payload.len(), 16 + 12 + 1 + 1 + 8 + 12);
    let mut cases: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
    cases.extend([
        record::encode(b"NXTH", 3, payload),
        record::encode(b"NXTH", 1, payload),
        record::encode(b"NXUR", 2, payload),
        record::encode(b"NXTH", 2, &payload[..payload.len() - 1]),
        record::encode(b"NXTH", 2, &[payload, &[0]].concat()),
    ]);
    for bytes in cases {
        fs::write(&path, &bytes).unwrap();
        let e = s
            .identity
            .login(&caller(), &alice(), &Password::new("pw"))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
    }
    fs::write(&path, &good).unwrap();
    assert_old_data(&s);
}

#[test]
fn leftover_temp_file_from_an_interrupted_write_leaves_the_old_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = setup(dir.path());
    let path = vault_file(&s);
    // A crash after the temp file was written, before the rename: a
    // complete-looking new file and a torn one sit beside vault.kv.
    let good = fs::read(&path).unwrap();
    fs::write(
        path.with_file_name(".tmp.vault.kv.999999.0"),
        &good[..good.len() / 2],
    )
    .unwrap();
    fs::write(path.with_file_name(".tmp.vault.kv.999999.1"), b"garbage").unwrap();
    drop(s);
    let s = Stack::open(dir.path(), &clock, RigConfig::default()).unwrap();
    assert_old_data(&s);
    // Writing still works and replaces only vault.kv.
    let sid = login(&s);
    s.vault.put(&app(), sid, "token", b"new-token").unwrap();
    s.identity.logout(&caller(), sid).unwrap();
    let sid = login(&s);
    assert_eq!(
        s.vault.get(&app(), sid, "token").unwrap().as_slice(),
        b"new-token"
    );
}

#[test]
fn test_reject_failed_write_keeps_the_old_vault_on_disk_and_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path());
    let path = vault_file(&s);
    let before = fs::read(&path).unwrap();
    let sid = login(&s);
    assert_eq!(
        s.vault.get(&app(), sid, "token").unwrap().as_slice(),
        b"old-token"
    );
    // Occupy every temp name this process's StateFs could pick next, so
    // the atomic write fails before the rename.
    for seq in 0..200 {
        let name = format!(".tmp.vault.kv.{}.{seq}", std::process::id());
        fs::create_dir(path.with_file_name(name)).unwrap();
    }
    let e = s.vault.put(&app(), sid, "token", b"new-token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
    let e = s.vault.delete(&app(), sid, "other").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
    // The cache rolled back: the session still sees the old vault...
    assert_eq!(
        s.vault.get(&app(), sid, "token").unwrap().as_slice(),
        b"old-token"
    );
    assert_eq!(s.vault.list(&app(), sid).unwrap(), ["other", "token"]);
    s.identity.logout(&caller(), sid).unwrap();
    // ...and so does the disk.
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_old_data(&s);
}

/// Run the writer until it has acknowledged `target` puts, then SIGKILL
/// it. Returns the highest acknowledged index.
fn run_and_kill(dir: &Path, target: usize) -> usize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vault_writer"))
        .args([dir.to_str().unwrap(), "alice", "pw", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut acked = None;
    for line in out.lines() {
        let i: usize = line.unwrap().strip_prefix("ok ").unwrap().parse().unwrap();
        acked = Some(i);
        if i >= target {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    acked.expect("the writer acknowledged nothing")
}

#[test]
fn killed_writer_leaves_the_old_or_the_new_vault() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000);
    {
        let s = Stack::open(dir.path(), &clock, RigConfig::crash_test()).unwrap();
        s.identity
            .create_user(&subject("system:identityd"), &alice(), &Password::new("pw"))
            .unwrap();
    }
    let crash_app = subject("app:com.example.crash");
    let mut acked = 0;
    for target in [3, 17, 40, 41, 90] {
        acked = run_and_kill(dir.path(), target.max(acked + 1));
        // A fresh process over the same directory finds a whole vault:
        // entries 0..=m with every value intact, m at least the last
        // acknowledged put (durable) and at most one unacknowledged put
        // beyond whatever was in flight.
        let s = Stack::open(dir.path(), &clock, RigConfig::crash_test()).unwrap();
        let sid = login(&s);
        let names = s.vault.list(&crash_app, sid).unwrap();
        assert!(
            names.len() > acked,
            "acknowledged put {acked} lost ({} entries)",
            names.len()
        );
        for (i, name) in names.iter().enumerate() {
            assert_eq!(name, &entry_name(i));
            assert_eq!(
                s.vault.get(&crash_app, sid, name).unwrap().as_slice(),
                entry_value(i)
            );
        }
        s.identity.logout(&caller(), sid).unwrap();
        acked = names.len() - 1;
    }
}
