//! bundlemgrd against the real trust store, statefs and signed bundles:
//! every rejection with its exact code, and the accepted paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod env;
mod verified;

use bundlemgrd::BundleError;
use env::*;
use nexus_core::{Coded, ErrorCode, Label};
use statefs::StatePath;
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustError, Version, MANIFEST_FILE};

#[test]
fn accepts_a_valid_bundle() {
    let e = env();
    let b = e.install(&e.bundle("1.0.0"), false).unwrap();
    assert_eq!(b.version.as_str(), "1.0.0");
    assert_eq!(b.signer, e.root.kid());
    let file = StatePath::parse(&format!("state:/apps/{APP}/1.0.0/bin/app")).unwrap();
    assert_eq!(e.state.read(&file).unwrap().unwrap(), b"app 1.0.0");
    assert_eq!(e.installed_version().as_deref(), Some("1.0.0"));
    let listed = e.mgr.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record.as_ref(), Some(&b));
    assert!(listed[0].check.is_ok());
}

#[test]
fn upgrade_keeps_new_files_named_like_the_record() {
    let e = env();
    e.install(&e.bundle("1.0"), false).unwrap();
    // Version 2.0 ships a file called "installed" at its top level.
    let dir = e.tmp.path().join("with-installed-file");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("installed"), b"data").unwrap();
    sign_artifact(
        &dir,
        Kind::Bundle,
        Label::new(APP).unwrap(),
        Version::parse("2.0").unwrap(),
        Scope::Packages,
        &e.key,
        "t",
    )
    .unwrap();
    e.install(&dir, false).unwrap();
    let mut want = vec![
        format!("state:/apps/{APP}/2.0/installed"),
        format!("state:/apps/{APP}/installed"),
    ];
    want.sort();
    assert_eq!(e.app_files(), want);
    // Upgrading again removes 2.0's "installed" file with the rest of 2.0.
    e.install(&e.bundle("3.0"), false).unwrap();
    assert!(!e.app_files().iter().any(|f| f.contains("/2.0/")));
}

#[test]
fn upgrade_replaces_the_old_version() {
    let e = env();
    e.install(&e.bundle("1.9"), false).unwrap();
    e.install(&e.bundle("1.10"), false).unwrap();
    assert_eq!(e.installed_version().as_deref(), Some("1.10"));
    let files = e.app_files();
    assert!(files.iter().all(|f| !f.contains("/1.9/")), "{files:?}");
    assert!(files.contains(&format!("state:/apps/{APP}/1.10/bin/app")));
}

#[test]
fn test_reject_unknown_signer() {
    let e = env();
    let stranger = MinisignSecretKey::generate().unwrap();
    let err = e.reject(
        &e.bundle_by("1.0.0", Kind::Bundle, &stranger),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(err, BundleError::Trust(TrustError::UnknownSigner)));
}

#[test]
fn test_reject_removed_root() {
    let e = env();
    let k = MinisignSecretKey::generate().unwrap();
    let root = e.install_root(&k, &[Scope::Packages]);
    e.install(&e.bundle_by("1.0.0", Kind::Bundle, &k), false)
        .unwrap();
    e.store
        .remove_installed(&subject("system:nx"), e.grants.as_ref(), &root.kid())
        .unwrap();
    let err = e.reject(
        &e.bundle_by("2.0.0", Kind::Bundle, &k),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(err, BundleError::Trust(TrustError::UnknownSigner)));
}

#[test]
fn test_reject_distrusted_root() {
    let e = env();
    e.store
        .distrust(&subject("system:nx"), e.grants.as_ref(), &e.root.kid())
        .unwrap();
    let err = e.reject(&e.bundle("1.0.0"), false, ErrorCode::Eperm);
    assert!(matches!(err, BundleError::Trust(TrustError::Distrusted(_))));
}

#[test]
fn test_reject_expired_root() {
    let e = env();
    let dir = e.bundle("1.0.0");
    e.clock.set(NOW + 1000);
    let err = e.reject(&dir, false, ErrorCode::Eperm);
    assert!(matches!(err, BundleError::Trust(TrustError::Expired(_))));
}

#[test]
fn test_reject_not_yet_valid_root() {
    let e = env();
    let dir = e.bundle("1.0.0");
    e.clock.set(NOW - 1001);
    let err = e.reject(&dir, false, ErrorCode::Eperm);
    assert!(matches!(
        err,
        BundleError::Trust(TrustError::NotYetValid(_))
    ));
}

#[test]
fn test_reject_wrong_scope() {
    let e = env();
    // A system update, signed by a root trusted for both scopes.
    let k = MinisignSecretKey::generate().unwrap();
    e.install_root(&k, &[Scope::Packages, Scope::Updates]);
    let err = e.reject(
        &e.bundle_by("1.0.0", Kind::Update, &k),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(
        err,
        BundleError::Trust(TrustError::WrongScope { .. })
    ));
}

#[test]
fn test_reject_root_without_packages_scope() {
    let e = env();
    let k = MinisignSecretKey::generate().unwrap();
    e.install_root(&k, &[Scope::Updates]);
    let err = e.reject(
        &e.bundle_by("1.0.0", Kind::Bundle, &k),
        false,
        ErrorCode::Eperm,
    );
    assert!(matches!(
        err,
        BundleError::Trust(TrustError::ScopeNotAllowed { .. })
    ));
}

#[test]
fn test_reject_tampered_file() {
    let e = env();
    let dir = e.bundle("1.0.0");
    fs::write(dir.join("bin/app"), b"app 1.0.1").unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eio);
    assert!(matches!(
        err,
        BundleError::Trust(TrustError::HashMismatch(_))
    ));
}

#[test]
fn test_reject_tampered_manifest() {
    let e = env();
    let dir = e.bundle("1.0.0");
    let m = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    fs::write(dir.join(MANIFEST_FILE), m.replace("size = 9", "size = 10")).unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eperm);
    assert!(matches!(err, BundleError::Trust(TrustError::BadSignature)));
}

#[test]
fn test_reject_extra_file() {
    let e = env();
    let dir = e.bundle("1.0.0");
    fs::write(dir.join("bin/payload"), b"#!/bin/sh").unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eio);
    assert!(matches!(
        err,
        BundleError::Trust(TrustError::UnlistedFile(_))
    ));
}

#[test]
fn test_reject_downgrade() {
    let e = env();
    e.install(&e.bundle("2.0"), false).unwrap();
    let old = e.bundle("1.99");
    let err = e.reject(&old, false, ErrorCode::Eperm);
    assert!(matches!(err, BundleError::Downgrade { .. }), "{err}");
    // Explicitly forced, it goes through.
    e.install(&old, true).unwrap();
    assert_eq!(e.installed_version().as_deref(), Some("1.99"));
}

#[test]
fn test_reject_same_version() {
    let e = env();
    let dir = e.bundle("1.0");
    e.install(&dir, false).unwrap();
    let err = e.reject(&dir, false, ErrorCode::Ealready);
    assert!(matches!(err, BundleError::AlreadyInstalled { .. }));
    // "1.0.0" is the same version as "1.0".
    e.reject(&e.bundle("1.0.0"), false, ErrorCode::Ealready);
    e.install(&dir, true).unwrap();
}

#[test]
fn test_reject_caller_without_capability() {
    let e = env();
    let dir = e.bundle("1.0.0");
    let err = e
        .mgr
        .install(&subject("app:com.other"), &dir, false)
        .unwrap_err();
    assert!(matches!(err, BundleError::Authz(_)));
    assert_eq!(err.code(), ErrorCode::Eperm);
    assert!(e.app_files().is_empty());
    e.install(&dir, false).unwrap();
    let err = e
        .mgr
        .uninstall(&subject("uid:1000"), &Label::new(APP).unwrap())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eperm);
    assert_eq!(e.installed_version().as_deref(), Some("1.0.0"));
    let log = e.grants.log();
    assert!(log
        .iter()
        .any(|l| l.starts_with("deny app:com.other identity.bundle.install")));
}

#[test]
fn test_reject_when_trust_store_is_missing() {
    let e = env();
    let dir = e.bundle("1.0.0");
    fs::remove_file(e.system_dir.join(e.root.file_name())).unwrap();
    fs::remove_dir(&e.system_dir).unwrap();
    let err = e.reject(&dir, false, ErrorCode::Eio);
    assert!(matches!(
        err,
        BundleError::Trust(TrustError::SystemStoreUnavailable { .. })
    ));
}

#[test]
fn uninstall_removes_record_and_files() {
    let e = env();
    e.install(&e.bundle("1.0.0"), false).unwrap();
    let name = Label::new(APP).unwrap();
    e.mgr.uninstall(&subject("system:nx"), &name).unwrap();
    assert!(e.app_files().is_empty());
    assert_eq!(e.installed_version(), None);
    let err = e.mgr.uninstall(&subject("system:nx"), &name).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Enoent);
}

#[test]
fn crash_before_record_keeps_previous_version() {
    let e = env();
    e.install(&e.bundle("1.0.0"), false).unwrap();
    // A crash mid-install of 2.0.0: files written, record not.
    let stray = StatePath::parse(&format!("state:/apps/{APP}/2.0.0/stray")).unwrap();
    e.state.write(&stray, b"partial").unwrap();
    assert_eq!(e.installed_version().as_deref(), Some("1.0.0"));
    e.install(&e.bundle("2.0.0"), false).unwrap();
    assert_eq!(e.state.read(&stray).unwrap(), None, "leftovers are cleared");
    assert_eq!(e.installed_version().as_deref(), Some("2.0.0"));
}

#[test]
fn test_reject_corrupt_record_with_eio() {
    let e = env();
    e.install(&e.bundle("1.0.0"), false).unwrap();
    let rec = StatePath::parse(&format!("state:/apps/{APP}/installed")).unwrap();
    let host = e.state.host_path(&rec).unwrap();
    let mut bytes = fs::read(&host).unwrap();
    bytes[14] ^= 1;
    fs::write(&host, &bytes).unwrap();
    let err = e.mgr.installed(&Label::new(APP).unwrap()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    let err = e.install(&e.bundle("2.0.0"), false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert_eq!(fs::read(&host).unwrap(), bytes, "not silently reset");
}
