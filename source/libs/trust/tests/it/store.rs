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
    fs::write(d.join(r1.kid().to_hex()), trust::distrust_toml(&r1.kid())).unwrap();
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

fn host(env: &Env, p: &str) -> std::path::PathBuf {
    env.state.host_path(&StatePath::parse(p).unwrap()).unwrap()
}

fn installed_and_distrusted(env: &Env) -> (TrustStore, trust::TrustRoot, trust::TrustRoot) {
    let store = env.store();
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
    store.add_installed(&nx, &admin(), &a).unwrap();
    store.add_installed(&nx, &admin(), &b).unwrap();
    store.distrust(&nx, &admin(), &b.kid()).unwrap();
    (store, a, b)
}

#[test]
fn test_reject_a_removed_distrust_entry_with_eio() {
    let env = Env::new();
    let (store, _a, b) = installed_and_distrusted(&env);
    assert!(store.load().unwrap().find(&b.kid()).unwrap().distrusted);
    // Put back the distrust directory as it was before: the entry is gone.
    let entry = format!("state:/trust/distrusted/{}", b.kid());
    fs::remove_file(host(&env, &entry)).unwrap();
    let err = damaged_at(&store, &entry);
    assert!(matches!(err, TrustError::Damaged { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::Eio);
    assert!(err.to_string().contains("missing"), "{err}");
    // B is not taken for trusted again: whether it is distrusted is unknown.
    let snap = store.load().unwrap();
    let entry_b = snap.find(&b.kid()).unwrap();
    assert!(entry_b.distrust_unknown && !entry_b.usable_for(Scope::Packages, 5));
    // Also for a reader, and after a restart.
    let state = StateFs::open(&env.tmp.path().join("state")).unwrap();
    let reader = TrustStore::open_reader(&env.system_dir, state, None, None).unwrap();
    assert_eq!(damaged_at(&reader, &entry).code(), ErrorCode::Eio);
}

#[test]
fn test_reject_changed_or_swapped_entries_with_eio() {
    let env = Env::new();
    let (store, a, b) = installed_and_distrusted(&env);
    let la = format!("state:/trust/installed/{}", a.file_name());
    let pa = host(&env, &la);
    let good = fs::read(&pa).unwrap();
    for i in (0..good.len()).step_by(3) {
        let mut bad = good.clone();
        bad[i] ^= 0x04;
        fs::write(&pa, &bad).unwrap();
        assert_eq!(damaged_at(&store, &la).code(), ErrorCode::Eio, "flip {i}");
        assert!(store.load().unwrap().find(&a.kid()).is_none(), "flip {i}");
    }
    fs::write(&pa, &good).unwrap();
    // B's file under A's name.
    let pb = host(&env, &format!("state:/trust/installed/{}", b.file_name()));
    fs::copy(&pb, &pa).unwrap();
    assert_eq!(damaged_at(&store, &la).code(), ErrorCode::Eio);
    fs::write(&pa, &good).unwrap();
    assert!(store.load().unwrap().damaged().is_empty());
    // A symlink or a directory where an entry should be.
    fs::remove_file(&pa).unwrap();
    std::os::unix::fs::symlink(&pb, &pa).unwrap();
    assert_eq!(damaged_at(&store, &la).code(), ErrorCode::Eio);
    fs::remove_file(&pa).unwrap();
    fs::create_dir(&pa).unwrap();
    assert_eq!(damaged_at(&store, &la).code(), ErrorCode::Eio);
}

#[test]
fn test_reject_a_plain_file_where_the_distrust_directory_should_be() {
    let env = Env::new();
    let (store, _a, b) = installed_and_distrusted(&env);
    let d = host(&env, "state:/trust/distrusted");
    fs::remove_dir_all(&d).unwrap();
    fs::write(&d, b"").unwrap();
    let err = damaged_at(&store, "state:/trust/distrusted");
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    assert!(
        store
            .load()
            .unwrap()
            .find(&b.kid())
            .unwrap()
            .distrust_unknown
    );
    // Even with a manifest that no longer names the entry, a file there is
    // refused: the list never silently reads as empty.
    let fresh = Env::new();
    let s = fresh.store();
    let dd = host(&fresh, "state:/trust/distrusted");
    fs::create_dir_all(dd.parent().unwrap()).unwrap();
    fs::write(&dd, b"").unwrap();
    let err = damaged_at(&s, "state:/trust/distrusted");
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn unlisted_entries_have_no_effect_and_the_writer_removes_them() {
    let env = Env::new();
    let (store, _a, _b) = installed_and_distrusted(&env);
    let stray = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let p = StatePath::parse(&format!("state:/trust/installed/{}", stray.file_name())).unwrap();
    env.state
        .write_record(&p, b"NXTR", 1, stray.to_toml().as_bytes())
        .unwrap();
    let snap = store.load().unwrap();
    assert!(snap.find(&stray.kid()).is_none());
    // Reported, but it decides nothing.
    let d = snap.damaged();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0].location.as_str(), d[0].unknown),
        (p.to_string().as_str(), trust::Unknown::Nothing)
    );
    drop(store);
    let _again = env.store();
    assert!(
        env.state.read(&p).unwrap().is_none(),
        "removed at the writer's open"
    );
}

#[test]
fn the_first_layout_is_upgraded_by_the_writer() {
    let env = Env::new();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../tests/fixtures/state-v1/state/trust");
    let dst = env.tmp.path().join("state/trust");
    for sub in ["installed", "distrusted"] {
        fs::create_dir_all(dst.join(sub)).unwrap();
        for f in fs::read_dir(fixture.join(sub)).unwrap() {
            let f = f.unwrap();
            fs::copy(f.path(), dst.join(sub).join(f.file_name())).unwrap();
        }
    }
    // A reader before the upgrade: refused, not read unchecked.
    let reader = TrustStore::open_reader(&env.system_dir, env.state.clone(), None, None).unwrap();
    let err = damaged_at(&reader, "state:/trust/manifest");
    assert_eq!(err.code(), ErrorCode::Eio);
    assert!(reader.load().unwrap().roots().is_empty());
    let store = env.store();
    let snap = store.load().unwrap();
    assert_eq!(snap.roots().len(), 2);
    let old =
        trust::Kid::from_hex("2fa8ddbf6e6d647afbb7908a11a4cd5e1a2f25fefabfb6c7b714c61057bea9cf")
            .unwrap();
    let vendor =
        trust::Kid::from_hex("a988443cdfe7344244b7b4fbe6e4f6a22ff6c57608e70c6014beaf3e697ca731")
            .unwrap();
    assert!(snap.find(&old).unwrap().distrusted);
    let v = snap.find(&vendor).unwrap();
    assert!(!v.distrusted);
    assert_eq!(v.root.label().as_str(), "fixture-vendor");
    assert!(v.root.allows(Scope::Updates));
    // The files are records now, with a manifest; readers accept them.
    let f = fs::read(dst.join(format!("installed/{vendor}.toml"))).unwrap();
    assert_eq!(&f[..4], b"NXTR");
    assert_eq!(reader.load().unwrap().roots().len(), 2);
    assert!(reader.load().unwrap().damaged().is_empty());
}

#[test]
fn test_reject_a_manifest_older_than_one_a_reader_has_seen() {
    use statefs::{RollbackCounter, StateCounter};
    use std::sync::Arc;
    // Generations come from a state root: use one, as keystored does.
    let env = Env::new();
    let dir = env.tmp.path().join("state");
    let journal = auditlog::Journal::open(
        &dir.join("audit"),
        "keystored",
        auditlog::JournalConfig::default(),
        Arc::new(nexus_core::ManualClock::new(1)),
    )
    .unwrap();
    let key = || statefs::StateKey::new(zeroize::Zeroizing::new([3; 32]));
    env.state
        .attach_root(statefs::RootConfig {
            service: "keystored".into(),
            key: Arc::new(key()),
            owns: statefs::Ownership::everything(),
            journal,
            clock: Arc::new(nexus_core::ManualClock::new(1)),
            counter: None,
            snapshot_every: 100,
        })
        .unwrap();
    let writer = TrustStore::open_writer(&env.system_dir, env.state.clone(), Some(key())).unwrap();
    let nx = subject("system:nx");
    let a = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    writer.add_installed(&nx, &admin(), &a).unwrap();
    let manifest = host(&env, "state:/trust/manifest");
    let old_manifest = fs::read(&manifest).unwrap();
    let distrust_file = host(&env, &format!("state:/trust/distrusted/{}", a.kid()));
    writer.distrust(&nx, &admin(), &a.kid()).unwrap();
    // A reader (its floor in its own state, here plain) sees the distrust.
    let floor_state = StateFs::open(&env.tmp.path().join("reader")).unwrap();
    let floor: Arc<dyn RollbackCounter> = Arc::new(StateCounter::new(
        floor_state,
        StatePath::parse("state:/floor").unwrap(),
    ));
    let plain = StateFs::open(&dir).unwrap();
    let reader = TrustStore::open_reader(
        &env.system_dir,
        plain,
        Some(key()),
        Some(Arc::clone(&floor)),
    )
    .unwrap();
    assert!(reader.load().unwrap().find(&a.kid()).unwrap().distrusted);
    // Both files put back as they were before the distrust.
    fs::write(&manifest, &old_manifest).unwrap();
    fs::remove_file(&distrust_file).unwrap();
    let err = damaged_at(&reader, "state:/trust/manifest");
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert_eq!(err.code(), ErrorCode::Eio);
    // Whether A is distrusted is unknown again, not "no".
    assert!(reader.load().unwrap().find(&a.kid()).is_none());
    assert!(reader.load().unwrap().distrusted().next().is_none());
    // The writer's own root catches it too.
    assert_eq!(
        damaged_at(&writer, "state:/trust/manifest").code(),
        ErrorCode::Eio
    );
    // And a manifest under another key is refused by readers.
    let wrong = TrustStore::open_reader(
        &env.system_dir,
        StateFs::open(&dir).unwrap(),
        Some(statefs::StateKey::new(zeroize::Zeroizing::new([4; 32]))),
        None,
    )
    .unwrap();
    assert_eq!(
        damaged_at(&wrong, "state:/trust/manifest").code(),
        ErrorCode::Eio
    );
    // The whole state side removed: not an empty store for a reader that
    // has seen a manifest.
    fs::remove_dir_all(dir.join("trust")).unwrap();
    let err = damaged_at(&reader, "state:/trust/manifest");
    assert!(err.to_string().contains("removed"), "{err}");
}

#[test]
fn test_reject_writes_through_a_reader() {
    let env = Env::new();
    let reader = TrustStore::open_reader(&env.system_dir, env.state.clone(), None, None).unwrap();
    let a = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let err = reader
        .add_installed(&subject("system:nx"), &admin(), &a)
        .unwrap_err();
    assert!(matches!(err, TrustError::ReadOnly), "{err}");
}
