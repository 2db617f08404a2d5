//! What is read is what was verified, and who may replace a bundle: files
//! checked against the kept signed manifest at every read and listing,
//! the first signer pinned, `force` behind its own capability, damage
//! contained to its bundle, and the first record format upgraded.

use crate::env::*;
use bundlemgrd::{BundleError, BundleManager};
use nexus_core::{Coded, ErrorCode, Label};
use statefs::StatePath;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Scope, TrustError, TrustStore};

fn app() -> Label {
    Label::new(APP).unwrap()
}

fn host(e: &Env, p: &str) -> std::path::PathBuf {
    e.state.host_path(&StatePath::parse(p).unwrap()).unwrap()
}

#[test]
fn test_reject_upgrade_signed_by_another_root() {
    let e = env();
    let other = MinisignSecretKey::generate().unwrap();
    e.install_root(&other, &[Scope::Packages]);
    e.install(&e.bundle("1.0"), false).unwrap();
    for force in [false, true] {
        let err = e.reject(
            &e.bundle_by("2.0", Kind::Bundle, &other),
            force,
            ErrorCode::Eperm,
        );
        assert!(matches!(err, BundleError::SignerPinned { .. }), "{err}");
    }
    // The pin is released with the name.
    e.mgr
        .uninstall(&subject("system:nx"), &app())
        .unwrap()
        .unwrap();
    e.install(&e.bundle_by("2.0", Kind::Bundle, &other), false)
        .unwrap();
    let err = e.reject(&e.bundle("3.0"), false, ErrorCode::Eperm);
    assert!(matches!(err, BundleError::SignerPinned { .. }), "{err}");
}

#[test]
fn test_reject_force_without_the_force_capability() {
    let e = env();
    e.install(&e.bundle("2.0"), false).unwrap();
    let old = e.bundle("1.0");
    let err = e
        .mgr
        .install(&subject("system:installer"), &old, true)
        .unwrap_err();
    assert!(matches!(err, BundleError::Authz(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::Eperm);
    // An app the policy wrongly lets force is still refused.
    let err = e
        .mgr
        .install(&subject("app:com.evil"), &old, true)
        .unwrap_err();
    assert!(matches!(err, BundleError::ForceSystemOnly), "{err}");
    assert_eq!(e.installed_version().as_deref(), Some("2.0"));
    // Without force the installer may upgrade.
    e.mgr
        .install(&subject("system:installer"), &e.bundle("2.1"), false)
        .unwrap();
    let log = e.grants.log();
    assert!(log
        .iter()
        .any(|l| l.starts_with("deny system:installer identity.artifact.force")));
}

#[test]
fn test_reject_reading_or_listing_changed_files() {
    let e = env();
    e.install(&e.bundle("1.0"), false).unwrap();
    let files = e.mgr.open(&app()).unwrap();
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["bin/app", "icon.png"]);
    assert_eq!(files[0].1, b"app 1.0");
    let file = host(&e, &format!("state:/apps/{APP}/1.0/bin/app"));
    fs::write(&file, b"app 6.6").unwrap();
    let err = e.mgr.open(&app()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert!(
        matches!(&err, BundleError::Trust(TrustError::HashMismatch(p)) if p.ends_with("1.0/bin/app")),
        "{err}"
    );
    let listed = e.mgr.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].check.as_ref().unwrap_err().code(), ErrorCode::Eio);
    assert_eq!(listed[0].record.as_ref().unwrap().version.as_str(), "1.0");
    // A file planted beside them is refused too.
    fs::write(&file, b"app 1.0").unwrap();
    fs::write(host(&e, &format!("state:/apps/{APP}/1.0/bin/helper")), b"x").unwrap();
    let err = e.mgr.open(&app()).unwrap_err();
    assert!(
        matches!(err, BundleError::Trust(TrustError::UnlistedFile(_))),
        "{err}"
    );
}

#[test]
fn test_reject_damaged_record_only_for_its_bundle() {
    let e = env();
    e.install(&e.bundle("1.0"), false).unwrap();
    let other_dir = e.tmp.path().join("other");
    fs::create_dir_all(&other_dir).unwrap();
    fs::write(other_dir.join("x"), b"x").unwrap();
    trust::sign_artifact(
        &other_dir,
        Kind::Bundle,
        Label::new("com.example.other").unwrap(),
        trust::Version::parse("1.0").unwrap(),
        Scope::Packages,
        &e.key,
        "other",
    )
    .unwrap();
    e.install(&other_dir, false).unwrap();
    let record = host(&e, &format!("state:/apps/{APP}/installed"));
    let mut bytes = fs::read(&record).unwrap();
    bytes[20] ^= 1;
    fs::write(&record, &bytes).unwrap();
    let listed = e.mgr.list().unwrap();
    let names: Vec<(&str, bool)> = listed
        .iter()
        .map(|b| (b.name.as_str(), b.check.is_ok()))
        .collect();
    assert_eq!(names, [(APP, false), ("com.example.other", true)]);
    assert!(listed[0].record.is_none());
    let err = e.install(&e.bundle("2.0"), false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert!(
        err.to_string()
            .contains(&format!("state:/apps/{APP}/installed")),
        "{err}"
    );
    // Removed without being read.
    assert_eq!(
        e.mgr.uninstall(&subject("system:nx"), &app()).unwrap(),
        None
    );
    assert_eq!(e.mgr.list().unwrap().len(), 1);
}

/// The state a first-format install left (`tests/fixtures/v1/`): record
/// `NXBI` v1 for `com.example.fixture` 1.0.0, signed by the fixture root.
fn v1_env() -> (Env, std::path::PathBuf) {
    let e = env();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    for entry in fs::read_dir(&fixture).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            // The fixture's root is in the first root format; an image
            // ships it sealed (format 2), as `nx key trust seal` makes it.
            let root = trust::TrustRoot::parse(&fs::read(&p).unwrap()).unwrap();
            fs::write(e.system_dir.join(p.file_name().unwrap()), root.to_toml()).unwrap();
        }
    }
    let src = fixture.join("state/apps/com.example.fixture");
    let dest = e.tmp.path().join("state/apps/com.example.fixture");
    fs::create_dir_all(dest.join("1.0.0/bin")).unwrap();
    fs::copy(src.join("installed"), dest.join("installed")).unwrap();
    fs::copy(src.join("1.0.0/bin/hello"), dest.join("1.0.0/bin/hello")).unwrap();
    (e, fixture.join("app"))
}

#[test]
fn first_format_record_upgrades() {
    let (e, app_dir) = v1_env();
    let mgr = BundleManager::new(
        e.state.clone(),
        TrustStore::open(&e.system_dir, e.state.clone()).unwrap(),
        e.grants.clone(),
        Arc::new(e.clock.clone()),
    );
    let name = Label::new("com.example.fixture").unwrap();
    let b = mgr.installed(&name).unwrap().unwrap();
    assert_eq!(b.version.as_str(), "1.0.0");
    assert!(b.signed.is_none());
    // It keeps no signed manifest: its files cannot be verified.
    let err = mgr.open(&name).unwrap_err();
    assert!(matches!(err, BundleError::NotKept { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::Eio);
    // The pin holds already: only the fixture's root may replace it.
    let hijack = e.tmp.path().join("hijack");
    fs::create_dir_all(hijack.join("bin")).unwrap();
    fs::write(hijack.join("bin/hello"), b"evil\n").unwrap();
    trust::sign_artifact(
        &hijack,
        Kind::Bundle,
        name.clone(),
        trust::Version::parse("2.0.0").unwrap(),
        Scope::Packages,
        &e.key,
        "hijack",
    )
    .unwrap();
    let err = mgr
        .install(&subject("system:nx"), &hijack, false)
        .unwrap_err();
    assert!(matches!(err, BundleError::SignerPinned { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::Eperm);
    // Installed again at the same version, without force: upgraded.
    mgr.install(&subject("system:nx"), &app_dir, false).unwrap();
    let files = mgr.open(&name).unwrap();
    assert_eq!(files[0].1, b"hello\n");
    let rec = StatePath::parse("state:/apps/com.example.fixture/installed").unwrap();
    let (version, _) = e
        .state
        .read_record(&rec, b"NXBI", &[1, 2])
        .unwrap()
        .unwrap();
    assert_eq!(version, 2);
}
