//! The first identity formats upgrade in place: a state directory made by
//! the code of commit 89f2dbc (`tests/fixtures/identity-v1`: user records
//! `NXUR` v1, throttle `NXTH` v1, vaults `NXVK` v1 bound to the user name,
//! vault keys wrapped `'V' | 1` under a name-bound KEK) opens with the
//! current code and loses nothing.
//!
//! - A user record becomes version 2 when first loaded: a fresh instance
//!   id, `legacy` set, its verifier and vault key as they were.
//! - The next successful password check upgrades the verifier (peppered
//!   MAC) and rewraps the vault key to the instance (`'V' | 2`).
//! - The name-bound vault is read by that instance only, and replaced by
//!   the instance's own file at the first write.
//! - Deleting an upgraded user removes the name-bound vault too; a user
//!   created again under the name starts empty.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use identity::Password;
use nexus_core::{Coded, ErrorCode, ManualClock, Subject, UserId};
use std::path::Path;
use ui_v18b_host::{admin, caller, RigConfig, Stack};

fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

fn app(s: &str) -> Subject {
    format!("app:com.example.{s}").parse().unwrap()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ui_v18b_host::copy_first_format_fixture(dir.path()).unwrap();
    dir
}

/// The record version of a statefs file, in either envelope layout (the
/// first puts the version at bytes 4..6, layout 2 puts `0xFFFF` there and
/// the version at 8..10).
fn record_version(p: &Path) -> u16 {
    let raw = std::fs::read(p).unwrap();
    version_of(&raw)
}

fn version_of(raw: &[u8]) -> u16 {
    if raw[4..6] == [0xff, 0xff] {
        u16::from_be_bytes([raw[8], raw[9]])
    } else {
        u16::from_be_bytes([raw[4], raw[5]])
    }
}

/// The payload of a statefs file, in either envelope layout.
fn payload_of(raw: &[u8]) -> &[u8] {
    let header = if raw[4..6] == [0xff, 0xff] { 22 } else { 10 };
    &raw[header..raw.len() - 32]
}

#[test]
fn first_format_users_and_vaults_upgrade_without_loss() {
    let dir = fixture();
    let d = dir.path();
    assert_eq!(record_version(&d.join("identity/alice/user")), 1);
    assert_eq!(record_version(&d.join("identity/alice/vault.kv")), 1);
    let clock = ManualClock::new(1_700_000_100);
    let s = Stack::open(d, &clock, RigConfig::default()).unwrap();
    assert_eq!(
        s.identity.list_users(&admin()).unwrap(),
        [user("alice"), user("bob")]
    );

    // The old password logs in; the record is now version 2, peppered,
    // its key bound to the instance.
    let sid = s
        .identity
        .login(&caller(), &user("alice"), &Password::new("alice-pw"))
        .unwrap()
        .sid;
    let rec = std::fs::read(d.join("identity/alice/user")).unwrap();
    assert_eq!(version_of(&rec), 2);
    let p = payload_of(&rec);
    let at = 1 + 5 + 16;
    assert_eq!(p[at], 1, "flags: legacy");
    assert_eq!(p[at + 1], 2, "verifier: the peppered MAC");
    // The success cleared the inherited failure count.
    assert!(!d.join("identity/alice/throttle").exists());

    // Every entry is there, each app its own, read from the name-bound
    // file until the first write.
    let got = |a: &str, n: &str| s.vault.get(&app(a), sid, n).map(|v| v.to_vec());
    assert_eq!(got("alpha", "token").unwrap(), b"alice-old-token");
    assert_eq!(got("beta", "note").unwrap(), b"alice-beta-note");
    assert!(d.join("identity/alice/vault.kv").exists());
    s.vault.put(&app("alpha"), sid, "added", b"after").unwrap();
    let own = s.vault_file(&user("alice"));
    assert!(own.starts_with(d.join("vault")));
    assert_eq!(record_version(&own), 2);
    assert!(!d.join("identity/alice/vault.kv").exists());
    drop(s);

    // A restart (new processes over the same directory): all still there.
    let s = Stack::open(d, &clock, RigConfig::default()).unwrap();
    let sid = s
        .identity
        .login(&caller(), &user("alice"), &Password::new("alice-pw"))
        .unwrap()
        .sid;
    assert_eq!(
        s.vault.list(&app("alpha"), sid).unwrap(),
        ["added", "token"]
    );
    assert_eq!(
        s.vault.get(&app("beta"), sid, "note").unwrap().as_slice(),
        b"alice-beta-note"
    );

    // bob never logged in again: deleting him removes his name-bound
    // vault; bob created again starts empty.
    assert!(d.join("identity/bob/vault.kv").exists());
    s.identity.delete_user(&admin(), &user("bob")).unwrap();
    assert!(!d.join("identity/bob/vault.kv").exists());
    assert!(!d.join("identity/bob/user").exists());
    s.identity
        .create_user(&admin(), &user("bob"), &Password::new("bob-new"))
        .unwrap();
    let bob = s
        .identity
        .login(&caller(), &user("bob"), &Password::new("bob-new"))
        .unwrap()
        .sid;
    let e = s.vault.get(&app("alpha"), bob, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
}

#[test]
fn test_reject_first_format_vault_for_a_user_created_again() {
    let dir = fixture();
    let d = dir.path();
    let clock = ManualClock::new(1_700_000_100);
    let s = Stack::open(d, &clock, RigConfig::default()).unwrap();
    // An older copy of bob's name-bound vault, kept aside, is put back
    // after bob is deleted and created again: the new bob never reads it.
    let old = std::fs::read(d.join("identity/bob/vault.kv")).unwrap();
    s.identity.delete_user(&admin(), &user("bob")).unwrap();
    s.identity
        .create_user(&admin(), &user("bob"), &Password::new("bob-new"))
        .unwrap();
    std::fs::write(d.join("identity/bob/vault.kv"), old).unwrap();
    let bob = s
        .identity
        .login(&caller(), &user("bob"), &Password::new("bob-new"))
        .unwrap()
        .sid;
    assert_eq!(
        s.vault.list(&app("alpha"), bob).unwrap(),
        Vec::<String>::new()
    );
    // The first-format throttle record of alice (two failures) applies
    // to every caller of the upgraded alice until a success clears it.
    for who in ["one", "two"] {
        let e = s
            .identity
            .login(&app(who), &user("alice"), &Password::new("wrong"))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eperm);
    }
    // 2 inherited + 1 of `one`'s own + ... `two` is at 2 + 1: one more
    // failure is free, the one after waits.
    let e = s
        .identity
        .login(&app("two"), &user("alice"), &Password::new("wrong"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    let e = s
        .identity
        .login(&app("two"), &user("alice"), &Password::new("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
}
