//! Attacks on updated over its real socket: what is activated is what was
//! verified (a staged or kept slot changed on disk, a root distrusted
//! since staging, a forced downgrade without the capability), and a
//! damaged record (the A/B state, a trust root, the distrust list) fails
//! only the operations that need it while the daemon serves the rest.

use crate::common::{env, ready, spawn, spawn_with, stage, text, Env};
use nexus_core::ErrorCode;
use nexus_daemon::testkit::{self, damaged, field, flip, refusal, remote_code, Proc};
use std::fs;
use std::path::Path;
use trust::minisign::MinisignSecretKey;
use trust::{Scope, TrustRoot};
use wire::{Args, Client, ClientError, Value};

fn call(c: &mut Client, op: &str) -> Result<Value, ClientError> {
    c.call(op, &Args::new())
}

fn start(e: &Env) -> Proc {
    let d = spawn(Some(&e.state()), &e.run(), &e.trust, Some(e.km()));
    assert_eq!(ready(&d), "updated: ready");
    d
}

fn pending(c: &mut Client) -> Value {
    field(&call(c, "update.status").unwrap(), "pending").clone()
}

#[test]
fn test_reject_commit_of_a_tampered_staged_slot() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    stage(&mut admin, &e.update("1.0")).unwrap();
    flip(&e.state().join("update/slot-b/sbin/init"), 2);
    let (code, msg) = refusal(call(&mut admin, "update.commit"));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert!(msg.contains("sbin/init"), "{msg}");
    // Nothing was activated: the slot is still pending, A still active.
    let st = call(&mut admin, "update.status").unwrap();
    assert_eq!((text(&st, "active"), text(&st, "pending")), ("a", "b"));
    // A file gone from the slot is refused the same way.
    flip(&e.state().join("update/slot-b/sbin/init"), 2);
    fs::remove_file(e.state().join("update/slot-b/sbin/init")).unwrap();
    assert_eq!(refusal(call(&mut admin, "update.commit")).0, ErrorCode::Eio);
    // Abandoning it still works, and a fresh stage commits.
    call(&mut admin, "update.rollback").unwrap();
    stage(&mut admin, &e.update("1.0")).unwrap();
    let done = call(&mut admin, "update.commit").unwrap();
    assert_eq!(text(&done, "active"), "b");
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_commit_after_the_signing_root_is_distrusted() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    stage(&mut admin, &e.update("1.0")).unwrap();
    let (store, grants, who) = e.trust_writer();
    store.distrust(&who, &grants, &e.root.kid()).unwrap();
    let (code, msg) = refusal(call(&mut admin, "update.commit"));
    assert_eq!(code, ErrorCode::Eperm, "{msg}");
    assert!(msg.contains("distrusted"), "{msg}");
    assert_eq!(pending(&mut admin), Value::from("b"));
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn rolls_back_a_committed_update_with_force() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    stage(&mut admin, &e.update("1.0")).unwrap();
    call(&mut admin, "update.commit").unwrap();
    let st = call(&mut admin, "update.status").unwrap();
    assert_eq!(text(field(&st, "versions"), "a"), env!("CARGO_PKG_VERSION"));
    // The previous slot is kept: rolling back to it is a downgrade, so it
    // must be forced.
    let force = Args::new().with("force", true);
    admin.call("update.rollback", &force).unwrap();
    let st = call(&mut admin, "update.status").unwrap();
    assert_eq!(text(&st, "active"), "a");
    assert_eq!(field(&st, "pending"), &Value::Null);
    assert!(!e.state().join("update/slot-b/sbin/init").exists());
    // Only once: nothing is kept behind the factory image.
    assert_eq!(
        remote_code(admin.call("update.rollback", &force)),
        ErrorCode::Enoent
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_rollback_of_a_committed_update_without_force() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    stage(&mut admin, &e.update("1.0")).unwrap();
    call(&mut admin, "update.commit").unwrap();
    let (code, msg) = refusal(call(&mut admin, "update.rollback"));
    assert_eq!(code, ErrorCode::Enoent, "{msg}");
    assert!(msg.contains("force"), "{msg}");
    assert_eq!(
        text(&call(&mut admin, "update.status").unwrap(), "active"),
        "b"
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_rollback_to_a_tampered_previous_slot() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    stage(&mut admin, &e.update("1.0")).unwrap();
    call(&mut admin, "update.commit").unwrap();
    stage(&mut admin, &e.update("2.0")).unwrap();
    call(&mut admin, "update.commit").unwrap();
    // Slot B keeps 1.0 behind the active 2.0 in A; change it on disk.
    flip(&e.state().join("update/slot-b/sbin/init"), 0);
    let force = Args::new().with("force", true);
    let (code, msg) = refusal(admin.call("update.rollback", &force));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    let st = call(&mut admin, "update.status").unwrap();
    assert_eq!(text(&st, "active"), "a");
    assert_eq!(text(field(&st, "versions"), "a"), "2.0");
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_forced_downgrade_without_the_force_capability() {
    let e = env();
    let policy = testkit::policy_with_subject(
        e.tmp.path(),
        &crate::common::policy(),
        "system:updater",
        &["identity.update.stage"],
    );
    let d = spawn_with(Some(&e.state()), &e.run(), &e.trust, &policy, Some(e.km()));
    assert_eq!(ready(&d), "updated: ready");
    let mut updater = d.connect("system:updater");
    let old = e.update("0.0.1");
    let forced = Args::new()
        .with("path", old.to_str().unwrap())
        .with("force", true);
    assert_eq!(
        remote_code(updater.call("update.stage", &forced)),
        ErrorCode::Eperm
    );
    assert_eq!(pending(&mut updater), Value::Null);
    // Without force it may stage and commit; rolling the commit back is a
    // downgrade and needs the capability too.
    stage(&mut updater, &e.update("1.0")).unwrap();
    call(&mut updater, "update.commit").unwrap();
    assert_eq!(
        remote_code(updater.call("update.rollback", &Args::new().with("force", true))),
        ErrorCode::Eperm
    );
    // The administrator holds it.
    let mut admin = d.connect("system:admin");
    admin
        .call("update.rollback", &Args::new().with("force", true))
        .unwrap();
    admin.call("update.stage", &forced).unwrap();
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_damaged_update_state_only_for_the_ops_that_need_it() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    stage(&mut admin, &e.update("1.0")).unwrap();
    call(&mut admin, "update.commit").unwrap();
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
    let record = e.state().join("update/state");
    let len = fs::metadata(&record).unwrap().len() as usize;
    flip(&record, len - 40);

    let d = start(&e);
    d.wait_stderr("state:/update/state");
    let mut admin = d.connect("system:admin");
    let status = call(&mut admin, "status").unwrap();
    assert_eq!(damaged(&status), ["state:/update/state"]);
    for op in ["update.status", "update.commit", "update.rollback"] {
        let (code, msg) = refusal(call(&mut admin, op));
        assert_eq!(code, ErrorCode::Eio, "{op}: {msg}");
        assert!(msg.contains("state:/update/state"), "{op}: {msg}");
    }
    let (code, msg) = refusal(stage(&mut admin, &e.update("2.0")));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert_eq!(fs::metadata(&record).unwrap().len() as usize, len, "kept");
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

/// An installed root for a new key with the `updates` scope.
fn install_root(e: &Env) -> (MinisignSecretKey, TrustRoot) {
    let key = MinisignSecretKey::generate().unwrap();
    let root = TrustRoot::from_minisign(
        &key.public_key(),
        "second".parse().unwrap(),
        &[Scope::Updates],
        e.root.not_before(),
        e.root.not_after(),
    )
    .unwrap();
    let (store, grants, who) = e.trust_writer();
    store.add_installed(&who, &grants, &root).unwrap();
    (key, root)
}

#[test]
fn test_reject_damaged_trust_root_only_for_what_it_may_have_signed() {
    let e = env();
    let (key2, root2) = install_root(&e);
    let file = e.state().join("trust/installed").join(root2.file_name());
    fs::write(&file, "format = 1\n").unwrap();
    let location = format!("state:/trust/installed/{}", root2.file_name());

    let d = start(&e);
    d.wait_stderr(&location);
    let mut admin = d.connect("system:admin");
    assert_eq!(
        damaged(&call(&mut admin, "status").unwrap()),
        std::slice::from_ref(&location)
    );
    // An update signed by the intact root stages and commits.
    stage(&mut admin, &e.update("1.0")).unwrap();
    call(&mut admin, "update.commit").unwrap();
    // One the damaged root may have signed is refused, naming it.
    let (code, msg) = refusal(stage(&mut admin, &e.update_by("2.0", &key2)));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert!(msg.contains(&location), "{msg}");
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_verification_when_the_distrust_list_is_damaged() {
    let e = env();
    let (store, grants, who) = e.trust_writer();
    store.distrust(&who, &grants, &e.root.kid()).unwrap();
    // Where the distrust list was, a plain file: it must not read as an
    // empty list that lets the distrusted root verify again.
    let dir = e.state().join("trust/distrusted");
    fs::remove_dir_all(&dir).unwrap();
    fs::write(&dir, b"").unwrap();

    let d = start(&e);
    d.wait_stderr("state:/trust/distrusted");
    let mut admin = d.connect("system:admin");
    assert_eq!(
        damaged(&call(&mut admin, "status").unwrap()),
        ["state:/trust/distrusted"]
    );
    let (code, msg) = refusal(stage(&mut admin, &e.update("1.0")));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert!(msg.contains("state:/trust/distrusted"), "{msg}");
    // Reading the A/B state does not need the trust store.
    assert_eq!(
        text(&call(&mut admin, "update.status").unwrap(), "active"),
        "a"
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_symlinked_distrust_entry() {
    let e = env();
    let (store, grants, who) = e.trust_writer();
    store.distrust(&who, &grants, &e.root.kid()).unwrap();
    // The entry moved out of the store and linked back: never followed,
    // never skipped.
    let entry = e
        .state()
        .join("trust/distrusted")
        .join(e.root.kid().to_hex());
    let outside = e.tmp.path().join("elsewhere");
    fs::rename(&entry, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &entry).unwrap();
    let location = format!("state:/trust/distrusted/{}", e.root.kid());

    let d = start(&e);
    let mut admin = d.connect("system:admin");
    let (code, msg) = refusal(stage(&mut admin, &e.update("1.0")));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert!(msg.contains(&location), "{msg}");
    assert!(Path::new(&entry).is_symlink(), "left for inspection");
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}
