//! What is activated is what was verified: commit and rollback verify
//! the kept slot again (signature against the store as it is now, files
//! byte for byte); the previous slot is kept until the next stage; a
//! first-format state record upgrades.

use crate::env::*;
use nexus_core::{Coded, ErrorCode, Label};
use statefs::StatePath;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Scope, TrustError, Version};
use updated::{Release, Slot, UpdateError, UpdateManager};

fn slot_file(e: &Env, slot: &str, rel: &str) -> PathBuf {
    e.state
        .host_path(&StatePath::parse(&format!("state:/update/slot-{slot}/{rel}")).unwrap())
        .unwrap()
}

#[test]
fn test_reject_commit_of_a_changed_slot() {
    let e = env();
    e.stage(&e.update("1.1"), false).unwrap();
    let before = e.mgr.status().unwrap();
    let img = slot_file(&e, "b", "rootfs.img");
    let mut bytes = fs::read(&img).unwrap();
    bytes[7] ^= 0x10;
    fs::write(&img, &bytes).unwrap();
    let err = e.mgr.commit(&updater()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert!(
        matches!(&err, UpdateError::Trust(TrustError::HashMismatch(p)) if p == "state:/update/slot-b/rootfs.img"),
        "{err}"
    );
    assert_eq!(e.mgr.status().unwrap(), before, "nothing activated");
    // An extra file is refused too.
    bytes[7] ^= 0x10;
    fs::write(&img, &bytes).unwrap();
    fs::write(slot_file(&e, "b", "boot/extra"), b"x").unwrap();
    let err = e.mgr.commit(&updater()).unwrap_err();
    assert!(
        matches!(err, UpdateError::Trust(TrustError::UnlistedFile(_))),
        "{err}"
    );
    fs::remove_file(slot_file(&e, "b", "boot/extra")).unwrap();
    e.mgr.commit(&updater()).unwrap();
}

#[test]
fn test_reject_commit_after_the_signing_root_expired() {
    let e = env();
    e.stage(&e.update("1.1"), false).unwrap();
    e.clock.set(NOW + 1000);
    let err = e.mgr.commit(&updater()).unwrap_err();
    assert!(
        matches!(err, UpdateError::Trust(TrustError::Expired(_))),
        "{err}"
    );
    assert!(e.mgr.status().unwrap().pending.is_some());
}

#[test]
fn test_reject_commit_after_the_signing_root_was_removed() {
    let e = env();
    let k = MinisignSecretKey::generate().unwrap();
    let root = e.install_root(&k, &[Scope::Updates]);
    e.stage(&e.update_as(OS, "1.1", Kind::Update, &k), false)
        .unwrap();
    e.store
        .remove_installed(&subject("system:nx"), e.grants.as_ref(), &root.kid())
        .unwrap();
    let err = e.mgr.commit(&updater()).unwrap_err();
    assert!(
        matches!(err, UpdateError::Trust(TrustError::UnknownSigner)),
        "{err}"
    );
}

#[test]
fn rollback_after_commit_returns_to_the_kept_slot_once() {
    let e = env();
    let r11 = e.stage(&e.update("1.1"), false).unwrap();
    e.mgr.commit(&updater()).unwrap();
    let r12 = e.stage(&e.update("1.2"), false).unwrap();
    assert!(e.mgr.status().unwrap().previous.is_none(), "stage drops it");
    e.mgr.commit(&updater()).unwrap();
    let st = e.mgr.status().unwrap();
    assert_eq!((st.active_slot, &st.active), (Slot::A, &r12));
    assert_eq!(st.previous, Some((Slot::B, r11.clone())));
    // Without force: refused, naming both versions.
    let err = e.mgr.rollback(&updater(), false).unwrap_err();
    assert!(
        matches!(err, UpdateError::RollbackNeedsForce { .. }),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Enoent);
    // Forcing needs its own capability.
    let err = e.mgr.rollback(&subject("system:stager"), true).unwrap_err();
    assert!(matches!(err, UpdateError::Authz(_)), "{err}");
    assert_eq!(e.mgr.rollback(&updater(), true).unwrap(), r11);
    let st = e.mgr.status().unwrap();
    assert_eq!(
        (st.active_slot, &st.active, &st.previous),
        (Slot::B, &r11, &None)
    );
    assert!(
        e.mgr.slot_files(Slot::A).unwrap().is_empty(),
        "the slot left is cleared"
    );
    assert_eq!(
        e.mgr.rollback(&updater(), true).unwrap_err().code(),
        ErrorCode::Enoent
    );
    // The floor is the active release again: 1.2 may be staged anew.
    e.stage(&e.update("1.2"), false).unwrap();
}

#[test]
fn test_reject_rollback_to_a_slot_whose_root_is_distrusted() {
    let e = env();
    let k = MinisignSecretKey::generate().unwrap();
    let root = e.install_root(&k, &[Scope::Updates]);
    e.stage(&e.update_as(OS, "1.1", Kind::Update, &k), false)
        .unwrap();
    e.mgr.commit(&updater()).unwrap();
    e.stage(&e.update("1.2"), false).unwrap();
    e.mgr.commit(&updater()).unwrap();
    e.store
        .distrust(&subject("system:nx"), e.grants.as_ref(), &root.kid())
        .unwrap();
    let before = e.mgr.status().unwrap();
    let err = e.mgr.rollback(&updater(), true).unwrap_err();
    assert!(
        matches!(err, UpdateError::Trust(TrustError::Distrusted(_))),
        "{err}"
    );
    assert_eq!(e.mgr.status().unwrap(), before);
}

/// A state directory written by the first format (record `NXUP` v1, an
/// update pending in slot B), as `tests/fixtures/v1/` holds it.
fn v1_env() -> Env {
    let e = env();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/state/update");
    let dest = e.tmp.path().join("state/update");
    fs::create_dir_all(dest.join("slot-b/sbin")).unwrap();
    fs::copy(fixture.join("state"), dest.join("state")).unwrap();
    fs::copy(
        fixture.join("slot-b/sbin/init"),
        dest.join("slot-b/sbin/init"),
    )
    .unwrap();
    e
}

#[test]
fn first_format_state_upgrades() {
    let e = v1_env();
    let mgr = UpdateManager::new(
        e.state.clone(),
        e.store.clone(),
        e.grants.clone(),
        Arc::new(e.clock.clone()),
        Release::factory(Label::new(OS).unwrap(), Version::parse("0.1.0").unwrap()),
    );
    let st = mgr.status().unwrap();
    assert_eq!(
        (st.active_slot, st.active.version.as_str()),
        (Slot::A, "0.1.0")
    );
    let (slot, pending) = st.pending.clone().unwrap();
    assert_eq!((slot, pending.version.as_str()), (Slot::B, "1.0"));
    assert!(pending.signer.is_some() && pending.signed.is_none());
    // Its signed manifest was not kept: it cannot be verified again, so it
    // is not activated; rolled back, and staged again, it commits.
    let err = mgr.commit(&updater()).unwrap_err();
    assert!(matches!(err, UpdateError::NotKept(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::Eio);
    assert!(err.to_string().contains("state:/update/state"), "{err}");
    mgr.rollback(&updater(), false).unwrap();
    mgr.stage(&updater(), &e.update("1.0"), false).unwrap();
    mgr.commit(&updater()).unwrap();
    // Now written in the current format, with what it needs.
    let st = mgr.status().unwrap();
    assert!(st.active.signed.is_some());
    let (version, _) = e
        .state
        .read_record(
            &StatePath::parse("state:/update/state").unwrap(),
            b"NXUP",
            &[1, 2],
        )
        .unwrap()
        .unwrap();
    assert_eq!(version, 2);
}
