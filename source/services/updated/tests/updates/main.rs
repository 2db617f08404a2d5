//! updated against the real trust store, statefs and signed updates:
//! every rejection with its exact code, and the A/B life cycle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activation;
mod env;

use env::*;
use nexus_core::{Coded, ErrorCode, Label};
use statefs::{StateFs, StatePath};
use std::fs;
use std::sync::Arc;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Scope, TrustError, TrustStore, Version, MANIFEST_FILE};
use updated::{Release, Slot, UpdateError, UpdateManager};

#[test]
fn accepts_a_valid_update_then_commits() {
    let e = env();
    let st = e.mgr.status().unwrap();
    assert_eq!(
        (st.active_slot, st.active.version.as_str(), st.pending),
        (Slot::A, "1.0", None)
    );
    let r = e.stage(&e.update("1.1"), false).unwrap();
    assert_eq!(r.signer, Some(e.root.kid()));
    let st = e.mgr.status().unwrap();
    assert_eq!(st.active_slot, Slot::A);
    assert_eq!(st.pending, Some((Slot::B, r.clone())));
    let kernel = StatePath::parse("state:/update/slot-b/boot/kernel").unwrap();
    assert_eq!(e.state.read(&kernel).unwrap().unwrap(), b"kernel 1.1");
    assert_eq!(e.mgr.commit(&updater()).unwrap(), r);
    let st = e.mgr.status().unwrap();
    assert_eq!(
        (st.active_slot, &st.active, &st.pending),
        (Slot::B, &r, &None)
    );
    // The next update goes to slot A.
    e.stage(&e.update("1.2"), false).unwrap();
    assert_eq!(e.mgr.status().unwrap().pending.unwrap().0, Slot::A);
    assert_eq!(e.mgr.slot_files(Slot::A).unwrap().len(), 2);
}

#[test]
fn rollback_abandons_the_pending_update() {
    let e = env();
    e.stage(&e.update("1.1"), false).unwrap();
    e.mgr.rollback(&updater(), false).unwrap();
    let st = e.mgr.status().unwrap();
    assert_eq!(
        (st.active_slot, st.active.version.as_str(), st.pending),
        (Slot::A, "1.0", None)
    );
    assert!(e.mgr.slot_files(Slot::B).unwrap().is_empty());
    assert_eq!(
        e.mgr.rollback(&updater(), false).unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        e.mgr.commit(&updater()).unwrap_err().code(),
        ErrorCode::Enoent
    );
}

#[test]
fn state_survives_a_restart() {
    let e = env();
    e.stage(&e.update("1.1"), false).unwrap();
    e.mgr.commit(&updater()).unwrap();
    let state = StateFs::open(&e.tmp.path().join("state")).unwrap();
    let mgr = UpdateManager::new(
        state.clone(),
        TrustStore::open(&e.system_dir, state).unwrap(),
        e.grants.clone(),
        Arc::new(e.clock.clone()),
        Release::factory(Label::new(OS).unwrap(), Version::parse("1.0").unwrap()),
    );
    let st = mgr.status().unwrap();
    assert_eq!(
        (st.active_slot, st.active.version.as_str()),
        (Slot::B, "1.1")
    );
    let err = mgr
        .stage(&updater(), &e.update("1.0.5"), false)
        .unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::Eperm,
        "the floor is the committed 1.1"
    );
}

#[test]
fn test_reject_unknown_signer() {
    let e = env();
    let stranger = MinisignSecretKey::generate().unwrap();
    let err = e.reject(
        &e.update_as(OS, "1.1", Kind::Update, &stranger),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(err, UpdateError::Trust(TrustError::UnknownSigner)));
}

#[test]
fn test_reject_removed_root() {
    let e = env();
    let k = MinisignSecretKey::generate().unwrap();
    let root = e.install_root(&k, &[Scope::Updates]);
    e.stage(&e.update_as(OS, "1.1", Kind::Update, &k), false)
        .unwrap();
    e.mgr.commit(&updater()).unwrap();
    e.store
        .remove_installed(&subject("system:nx"), e.grants.as_ref(), &root.kid())
        .unwrap();
    let err = e.reject(
        &e.update_as(OS, "1.2", Kind::Update, &k),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(err, UpdateError::Trust(TrustError::UnknownSigner)));
}

#[test]
fn test_reject_distrusted_root() {
    let e = env();
    e.store
        .distrust(&subject("system:nx"), e.grants.as_ref(), &e.root.kid())
        .unwrap();
    let err = e.reject(&e.update("1.1"), false, ErrorCode::Eperm);
    assert!(matches!(err, UpdateError::Trust(TrustError::Distrusted(_))));
}

#[test]
fn test_reject_expired_root() {
    let e = env();
    let dir = e.update("1.1");
    e.clock.set(NOW + 1000);
    let err = e.reject(&dir, false, ErrorCode::Eperm);
    assert!(matches!(err, UpdateError::Trust(TrustError::Expired(_))));
}

#[test]
fn test_reject_not_yet_valid_root() {
    let e = env();
    let dir = e.update("1.1");
    e.clock.set(NOW - 1001);
    let err = e.reject(&dir, false, ErrorCode::Eperm);
    assert!(matches!(
        err,
        UpdateError::Trust(TrustError::NotYetValid(_))
    ));
}

#[test]
fn test_reject_wrong_scope() {
    let e = env();
    // An application bundle, signed by a root trusted for both scopes.
    let k = MinisignSecretKey::generate().unwrap();
    e.install_root(&k, &[Scope::Packages, Scope::Updates]);
    let err = e.reject(
        &e.update_as(OS, "1.1", Kind::Bundle, &k),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(
        err,
        UpdateError::Trust(TrustError::WrongScope { .. })
    ));
}

#[test]
fn test_reject_root_without_updates_scope() {
    let e = env();
    let k = MinisignSecretKey::generate().unwrap();
    e.install_root(&k, &[Scope::Packages]);
    let err = e.reject(
        &e.update_as(OS, "1.1", Kind::Update, &k),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(
        err,
        UpdateError::Trust(TrustError::ScopeNotAllowed { .. })
    ));
}

#[test]
fn test_reject_tampered_file() {
    let e = env();
    let dir = e.update("1.1");
    let mut img = fs::read(dir.join("rootfs.img")).unwrap();
    img[100] ^= 0x80;
    fs::write(dir.join("rootfs.img"), img).unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eio);
    assert!(matches!(
        err,
        UpdateError::Trust(TrustError::HashMismatch(_))
    ));
}

#[test]
fn test_reject_tampered_manifest() {
    let e = env();
    let dir = e.update("1.1");
    let m = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    fs::write(
        dir.join(MANIFEST_FILE),
        m.replace("version = \"1.1\"", "version = \"9.9\""),
    )
    .unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eperm);
    assert!(matches!(err, UpdateError::Trust(TrustError::BadSignature)));
}

#[test]
fn test_reject_extra_file() {
    let e = env();
    let dir = e.update("1.1");
    fs::write(dir.join("boot/initrd-backdoor"), b"x").unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eio);
    assert!(matches!(
        err,
        UpdateError::Trust(TrustError::UnlistedFile(_))
    ));
}

#[test]
fn test_reject_downgrade() {
    let e = env();
    let old = e.update("0.9");
    let err = e.reject(&old, false, ErrorCode::Eperm);
    assert!(matches!(err, UpdateError::Downgrade { .. }), "{err}");
    // Forcing needs its own capability.
    let err = e
        .mgr
        .stage(&subject("system:stager"), &old, true)
        .unwrap_err();
    assert!(matches!(err, UpdateError::Authz(_)), "{err}");
    assert!(e.mgr.status().unwrap().pending.is_none());
    // Explicitly forced by a holder, it goes through.
    e.stage(&old, true).unwrap();
}

#[test]
fn test_reject_same_version() {
    let e = env();
    let err = e.reject(&e.update("1.0.0"), false, ErrorCode::Ealready);
    assert!(matches!(err, UpdateError::AlreadyActive(_)));
}

#[test]
fn test_reject_other_product() {
    let e = env();
    let err = e.reject(
        &e.update_as("other-os", "5.0", Kind::Update, &e.key),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(err, UpdateError::WrongProduct { .. }));
}

#[test]
fn test_reject_second_stage_while_pending() {
    let e = env();
    e.stage(&e.update("1.1"), false).unwrap();
    let err = e.reject(&e.update("1.2"), false, ErrorCode::Ebusy);
    assert!(matches!(err, UpdateError::PendingExists(_)));
}

#[test]
fn test_reject_non_system_caller_even_if_authorized() {
    let e = env();
    let dir = e.update("1.1");
    let err = e
        .mgr
        .stage(&subject("app:com.evil"), &dir, false)
        .unwrap_err();
    assert!(matches!(err, UpdateError::SystemOnly));
    assert_eq!(err.code(), ErrorCode::Eperm);
    let err = e
        .mgr
        .stage(&subject("system:other"), &dir, false)
        .unwrap_err();
    assert!(matches!(err, UpdateError::Authz(_)));
    assert_eq!(err.code(), ErrorCode::Eperm);
    e.stage(&dir, false).unwrap();
    assert_eq!(
        e.mgr.commit(&subject("app:com.evil")).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        e.mgr.rollback(&subject("uid:0"), false).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert!(e.mgr.status().unwrap().pending.is_some());
}

#[test]
fn test_reject_when_trust_store_is_missing() {
    let e = env();
    let dir = e.update("1.1");
    fs::remove_file(e.system_dir.join(e.root.file_name())).unwrap();
    fs::remove_dir(&e.system_dir).unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eio);
    assert!(matches!(
        err,
        UpdateError::Trust(TrustError::SystemStoreUnavailable { .. })
    ));
}

#[test]
fn test_reject_corrupt_state_with_eio() {
    let e = env();
    e.stage(&e.update("1.1"), false).unwrap();
    let host = e
        .state
        .host_path(&StatePath::parse("state:/update/state").unwrap())
        .unwrap();
    let mut bytes = fs::read(&host).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    fs::write(&host, &bytes).unwrap();
    assert_eq!(e.mgr.status().unwrap_err().code(), ErrorCode::Eio);
    assert_eq!(e.mgr.commit(&updater()).unwrap_err().code(), ErrorCode::Eio);
    assert_eq!(fs::read(&host).unwrap(), bytes, "not silently reset");
}
