//! The trust store: loading (fail closed, origin by location, distrust
//! precedence), authorized writes and atomic persistence.
use crate::common::*;
use nexus_core::{Capability, Coded, ErrorCode};
use statefs::{StateFs, StatePath};
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{Origin, Scope, TrustError, TrustStore};

fn admin() -> Grants {
    Grants::new(&[("system:nx", Capability::TrustWrite)])
}

#[test]
fn test_reject_missing_system_dir_fails_closed() {
    let env = Env::new();
    fs::remove_dir(&env.system_dir).unwrap();
    let err = TrustStore::open(&env.system_dir, env.state.clone()).unwrap_err();
    assert!(
        matches!(err, TrustError::SystemStoreUnavailable { .. }),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn test_reject_system_dir_removed_after_open() {
    let env = Env::new();
    let store = env.store();
    fs::remove_dir(&env.system_dir).unwrap();
    assert_eq!(store.load().unwrap_err().code(), ErrorCode::Eio);
}

#[test]
fn test_reject_system_path_that_is_a_file() {
    let env = Env::new();
    let file = env.tmp.path().join("not-a-dir");
    fs::write(&file, b"").unwrap();
    let err = TrustStore::open(&file, env.state.clone()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn empty_system_dir_is_an_empty_store() {
    let env = Env::new();
    assert!(env.store().load().unwrap().roots().is_empty());
}

#[test]
fn origin_comes_from_location_and_system_shadows_installed() {
    let env = Env::new();
    let sys_key = MinisignSecretKey::generate().unwrap();
    let inst_key = MinisignSecretKey::generate().unwrap();
    let sys_root = root_for(&sys_key, &[Scope::Updates], 0, u64::from(u32::MAX));
    let inst_root = root_for(&inst_key, &[Scope::Packages], 0, u64::from(u32::MAX));
    env.add_system_root(&sys_root);
    let store = env.store();
    store
        .add_installed(&subject("system:nx"), &admin(), &inst_root)
        .unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.find(&sys_root.kid()).unwrap().origin, Origin::System);
    assert_eq!(
        snap.find(&inst_root.kid()).unwrap().origin,
        Origin::Installed
    );
    // The same root file copied into the system dir becomes a system root.
    env.add_system_root(&inst_root);
    let snap = store.load().unwrap();
    assert_eq!(snap.roots().len(), 2);
    assert_eq!(snap.find(&inst_root.kid()).unwrap().origin, Origin::System);
}

#[test]
fn distrust_overrides_system_and_installed() {
    let env = Env::new();
    let k1 = MinisignSecretKey::generate().unwrap();
    let k2 = MinisignSecretKey::generate().unwrap();
    let r1 = root_for(&k1, &[Scope::Packages], 0, 100);
    let r2 = root_for(&k2, &[Scope::Packages], 0, 100);
    env.add_system_root(&r1);
    // Shipped distrust list.
    let d = env.system_dir.join("distrusted");
    fs::create_dir(&d).unwrap();
    fs::write(
        d.join(r1.kid().to_hex()),
        format!("format = 1\nkid = \"{}\"\n", r1.kid()),
    )
    .unwrap();
    let store = env.store();
    store
        .add_installed(&subject("system:nx"), &admin(), &r2)
        .unwrap();
    store
        .distrust(&subject("system:nx"), &admin(), &r2.kid())
        .unwrap();
    let snap = store.load().unwrap();
    assert!(snap.find(&r1.kid()).unwrap().distrusted);
    assert!(snap.find(&r2.kid()).unwrap().distrusted);
    assert!(!snap
        .find(&r2.kid())
        .unwrap()
        .usable_for(Scope::Packages, 50));
    assert_eq!(snap.distrusted().count(), 2);
    // A distrusted kid cannot be (re)installed.
    store
        .remove_installed(&subject("system:nx"), &admin(), &r2.kid())
        .unwrap();
    let err = store
        .add_installed(&subject("system:nx"), &admin(), &r2)
        .unwrap_err();
    assert!(matches!(err, TrustError::Distrusted(_)));
    assert_eq!(err.code(), ErrorCode::Eperm);
}

#[test]
fn test_reject_writes_without_capability() {
    let env = Env::new();
    let store = env.store();
    let root = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let nobody = Grants::new(&[]);
    let err = store
        .add_installed(&subject("system:nx"), &nobody, &root)
        .unwrap_err();
    assert!(matches!(err, TrustError::Authz(_)));
    assert_eq!(err.code(), ErrorCode::Eperm);
    let err = store
        .distrust(&subject("system:nx"), &nobody, &root.kid())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eperm);
    let err = store
        .remove_installed(&subject("system:nx"), &nobody, &root.kid())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eperm);
    assert!(store.load().unwrap().roots().is_empty());
    assert_eq!(nobody.log().len(), 3, "every decision is asked for");
}

#[test]
fn test_reject_non_system_writer_even_if_authorized() {
    let env = Env::new();
    let store = env.store();
    // A misconfigured policy grants trust writes to an app.
    let lax = Grants::new(&[("app:com.evil", Capability::TrustWrite)]);
    let app = subject("app:com.evil");
    let pk = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let up = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages, Scope::Updates],
        0,
        10,
    );
    let err = store.add_installed(&app, &lax, &pk).unwrap_err();
    assert!(matches!(err, TrustError::SystemOnly), "{err}");
    assert_eq!(err.code(), ErrorCode::Eperm);
    let err = store.add_installed(&app, &lax, &up).unwrap_err();
    assert!(
        matches!(err, TrustError::UpdatesScopeRequiresSystem),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Eperm);
    let err = store.distrust(&app, &lax, &pk.kid()).unwrap_err();
    assert!(matches!(err, TrustError::SystemOnly));
    assert!(store.load().unwrap().roots().is_empty());
    // The same root from a system caller is accepted.
    store
        .add_installed(&subject("system:nx"), &admin(), &up)
        .unwrap();
}

#[test]
fn write_errors_have_stable_codes() {
    let env = Env::new();
    let key = MinisignSecretKey::generate().unwrap();
    let sys = root_for(&key, &[Scope::Packages], 0, 10);
    env.add_system_root(&sys);
    let store = env.store();
    let nx = subject("system:nx");
    let err = store.add_installed(&nx, &admin(), &sys).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Ealready, "already a system root");
    let err = store
        .remove_installed(&nx, &admin(), &sys.kid())
        .unwrap_err();
    assert!(matches!(err, TrustError::SystemRoot(_)));
    assert_eq!(err.code(), ErrorCode::Eperm);
    let other = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let err = store
        .remove_installed(&nx, &admin(), &other.kid())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Enoent);
    store.add_installed(&nx, &admin(), &other).unwrap();
    assert_eq!(
        store
            .add_installed(&nx, &admin(), &other)
            .unwrap_err()
            .code(),
        ErrorCode::Ealready
    );
    store.distrust(&nx, &admin(), &other.kid()).unwrap();
    assert_eq!(
        store
            .distrust(&nx, &admin(), &other.kid())
            .unwrap_err()
            .code(),
        ErrorCode::Ealready
    );
}

#[test]
fn installed_roots_persist_and_crash_before_rename_keeps_old_store() {
    let env = Env::new();
    let nx = subject("system:nx");
    let a = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let b = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let store = env.store();
    store.add_installed(&nx, &admin(), &a).unwrap();
    // A crash after writing B's temp file but before the rename: statefs
    // leaves `.tmp.<name>.<pid>.<seq>` beside the target.
    let dir = env
        .state
        .host_path(&StatePath::parse("state:/trust/installed").unwrap())
        .unwrap();
    fs::write(
        dir.join(format!(".tmp.{}.4242.0", b.file_name())),
        b.to_toml(),
    )
    .unwrap();
    // Likewise for a distrust entry of A that never landed.
    let ddir = dir.parent().unwrap().join("distrusted");
    fs::create_dir_all(&ddir).unwrap();
    fs::write(
        ddir.join(format!(".tmp.{}.4242.1", a.kid())),
        format!("format = 1\nkid = \"{}\"\n", a.kid()),
    )
    .unwrap();
    drop(store);
    // "Reboot": a new statefs and store over the same directories.
    let state = StateFs::open(&env.tmp.path().join("state")).unwrap();
    let store = TrustStore::open(&env.system_dir, state).unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.roots().len(), 1);
    let entry = snap.find(&a.kid()).unwrap();
    assert_eq!(entry.root, a);
    assert!(!entry.distrusted);
    assert!(snap.find(&b.kid()).is_none());
    assert!(store.is_persistent());
}

#[test]
fn volatile_state_is_reported() {
    let env = Env::new();
    let store = TrustStore::open(&env.system_dir, StateFs::volatile()).unwrap();
    assert!(!store.is_persistent());
    let r = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    store
        .add_installed(&subject("system:nx"), &admin(), &r)
        .unwrap();
    assert_eq!(store.load().unwrap().roots().len(), 1);
}
