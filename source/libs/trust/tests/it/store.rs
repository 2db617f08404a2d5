//! The trust store: loading (fail closed, origin by location, distrust
//! precedence), authorized writes and atomic persistence.
use crate::common::*;
use nexus_core::{Capability, Coded, ErrorCode};
use statefs::{StateFs, StatePath};
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Origin, Scope, TrustError, TrustStore, Unknown};

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
fn test_reject_root_file_claiming_an_origin() {
    let env = Env::new();
    let key = MinisignSecretKey::generate().unwrap();
    let root = root_for(&key, &[Scope::Packages], 0, 10);
    let path = StatePath::parse(&format!("state:/trust/installed/{}", root.file_name())).unwrap();
    env.state
        .write(
            &path,
            format!("{}origin = \"system\"\n", root.to_toml()).as_bytes(),
        )
        .unwrap();
    let snap = env.store().load().unwrap();
    assert!(snap.find(&root.kid()).is_none(), "never loaded");
    let d = snap.damaged_root(&root.kid()).expect("reported");
    assert_eq!(d.location, path.to_string());
    let err = TrustError::from(d);
    assert_eq!(err.code(), ErrorCode::Eio);
}

/// One damaged entry, what it must leave unknown, and whether an artifact
/// of the intact system root still verifies beside it.
struct Case {
    what: &'static str,
    setup: Box<dyn Fn(&Env)>,
    location: String,
    unknown: Unknown,
    intact_verifies: bool,
}

#[test]
fn test_reject_damaged_store_entries_only_where_they_matter() {
    let key = MinisignSecretKey::generate().unwrap();
    let root = root_for(&key, &[Scope::Packages], 0, 10);
    let other = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let good_key = MinisignSecretKey::generate().unwrap();
    let good = root_for(&good_key, &[Scope::Packages], 0, u64::from(u32::MAX) * 2);
    let (r, o, g) = (root.clone(), other.clone(), good.clone());
    let installed = |name: &str| format!("state:/trust/installed/{name}");
    let distrusted = |name: &str| format!("state:/trust/distrusted/{name}");
    let sys = |name: &str| format!("pkg://trust/{name}");
    let cases = vec![
        Case {
            what: "system file under another kid's name",
            setup: Box::new({
                let (r, o) = (r.clone(), o.clone());
                move |e| fs::write(e.system_dir.join(o.file_name()), r.to_toml()).unwrap()
            }),
            location: sys(&other.file_name()),
            unknown: Unknown::Root(Some(other.kid())),
            intact_verifies: true,
        },
        Case {
            what: "system file with unknown format",
            setup: Box::new({
                let r = r.clone();
                move |e| {
                    fs::write(
                        e.system_dir.join(r.file_name()),
                        r.to_toml().replace("format = 1", "format = 2"),
                    )
                    .unwrap()
                }
            }),
            location: sys(&root.file_name()),
            unknown: Unknown::Root(Some(root.kid())),
            intact_verifies: true,
        },
        Case {
            what: "stray file in system dir",
            setup: Box::new(|e| fs::write(e.system_dir.join("README"), b"roots").unwrap()),
            location: sys("README"),
            unknown: Unknown::Root(None),
            intact_verifies: true,
        },
        Case {
            what: "symlink in system dir",
            setup: Box::new({
                let r = r.clone();
                move |e| {
                    let target = e.tmp.path().join("elsewhere.toml");
                    fs::write(&target, r.to_toml()).unwrap();
                    std::os::unix::fs::symlink(&target, e.system_dir.join(r.file_name())).unwrap();
                }
            }),
            location: sys(&root.file_name()),
            unknown: Unknown::Root(Some(root.kid())),
            intact_verifies: true,
        },
        Case {
            what: "unknown subdirectory in system dir",
            setup: Box::new(|e| fs::create_dir(e.system_dir.join("extra")).unwrap()),
            location: sys("extra"),
            unknown: Unknown::Root(None),
            intact_verifies: true,
        },
        Case {
            what: "truncated installed root",
            setup: Box::new({
                let r = r.clone();
                move |e| {
                    let p = StatePath::parse(&format!("state:/trust/installed/{}", r.file_name()))
                        .unwrap();
                    let t = r.to_toml();
                    e.state.write(&p, &t.as_bytes()[..t.len() / 2]).unwrap();
                }
            }),
            location: installed(&root.file_name()),
            unknown: Unknown::Root(Some(root.kid())),
            intact_verifies: true,
        },
        Case {
            what: "installed root in a subdirectory",
            setup: Box::new(|e| {
                let p = StatePath::parse("state:/trust/installed/sub/x.toml").unwrap();
                e.state.write(&p, b"").unwrap();
            }),
            location: installed("sub"),
            unknown: Unknown::Root(None),
            intact_verifies: true,
        },
        Case {
            what: "symlinked installed root",
            setup: Box::new({
                let r = r.clone();
                move |e| {
                    let target = e.tmp.path().join("planted.toml");
                    fs::write(&target, r.to_toml()).unwrap();
                    let dir = e.tmp.path().join("state/trust/installed");
                    fs::create_dir_all(&dir).unwrap();
                    std::os::unix::fs::symlink(&target, dir.join(r.file_name())).unwrap();
                }
            }),
            location: installed(&root.file_name()),
            unknown: Unknown::Root(Some(root.kid())),
            intact_verifies: true,
        },
        Case {
            what: "distrust entry with a bad name",
            setup: Box::new(|e| {
                let p = StatePath::parse("state:/trust/distrusted/not-a-kid").unwrap();
                e.state.write(&p, b"format = 1\nkid = \"00\"\n").unwrap();
            }),
            location: distrusted("not-a-kid"),
            unknown: Unknown::DistrustList,
            intact_verifies: false,
        },
        Case {
            what: "damaged distrust entry of the intact root",
            setup: Box::new({
                let g = g.clone();
                move |e| {
                    let p =
                        StatePath::parse(&format!("state:/trust/distrusted/{}", g.kid())).unwrap();
                    e.state.write(&p, b"format = 1\nkid = \"0\n").unwrap();
                }
            }),
            location: distrusted(&good.kid().to_hex()),
            unknown: Unknown::DistrustOf(good.kid()),
            intact_verifies: false,
        },
        Case {
            what: "symlinked distrust entry",
            setup: Box::new({
                let r = r.clone();
                move |e| {
                    let target = e.tmp.path().join("planted");
                    fs::write(&target, format!("format = 1\nkid = \"{}\"\n", r.kid())).unwrap();
                    let dir = e.tmp.path().join("state/trust/distrusted");
                    fs::create_dir_all(&dir).unwrap();
                    std::os::unix::fs::symlink(&target, dir.join(r.kid().to_hex())).unwrap();
                }
            }),
            location: distrusted(&root.kid().to_hex()),
            unknown: Unknown::DistrustOf(root.kid()),
            intact_verifies: true,
        },
        Case {
            what: "distrust list that is a plain file",
            setup: Box::new(|e| {
                let p = e.tmp.path().join("state/trust");
                fs::create_dir_all(&p).unwrap();
                fs::write(p.join("distrusted"), b"").unwrap();
            }),
            location: "state:/trust/distrusted".into(),
            unknown: Unknown::DistrustList,
            intact_verifies: false,
        },
        Case {
            what: "shipped distrust list that is a plain file",
            setup: Box::new(|e| fs::write(e.system_dir.join("distrusted"), b"").unwrap()),
            location: sys("distrusted"),
            unknown: Unknown::DistrustList,
            intact_verifies: false,
        },
        Case {
            what: "shipped distrust entry naming another kid",
            setup: Box::new(|e| {
                let d = e.system_dir.join("distrusted");
                fs::create_dir(&d).unwrap();
                fs::write(
                    d.join("ab".repeat(32)),
                    format!("format = 1\nkid = \"{}\"\n", "cd".repeat(32)),
                )
                .unwrap();
            }),
            location: format!("pkg://trust/distrusted/{}", "ab".repeat(32)),
            unknown: Unknown::DistrustOf(trust::Kid::from_hex(&"ab".repeat(32)).unwrap()),
            intact_verifies: true,
        },
    ];
    let stranger = MinisignSecretKey::generate().unwrap();
    for c in cases {
        let env = Env::new();
        env.add_system_root(&good);
        (c.setup)(&env);
        // The store opens: one entry never stops a daemon.
        let store = TrustStore::open(&env.system_dir, env.state.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", c.what));
        let snap = store.load().unwrap();
        let got: Vec<(String, Unknown)> = snap
            .damaged()
            .iter()
            .map(|d| (d.location.clone(), d.unknown))
            .collect();
        assert_eq!(got, [(c.location.clone(), c.unknown)], "{}", c.what);
        // An artifact of the intact root verifies unless the damage
        // hides whether that root is distrusted.
        let dir = env.artifact_dir("good");
        sign(&dir, Kind::Bundle, "1.0.0", &good_key);
        let res = trust::verify(&store, &dir, Scope::Packages, NOW);
        if c.intact_verifies {
            res.unwrap_or_else(|e| panic!("{}: {e}", c.what));
        } else {
            let err = res.unwrap_err();
            assert_eq!(err.code(), ErrorCode::Eio, "{}: {err}", c.what);
            assert!(err.to_string().contains(&c.location), "{}: {err}", c.what);
        }
        // One no intact root signed is EIO when a damaged root may have.
        let dir = env.artifact_dir("stranger");
        sign(&dir, Kind::Bundle, "1.0.0", &stranger);
        let err = trust::verify(&store, &dir, Scope::Packages, NOW).unwrap_err();
        let want = if matches!(c.unknown, Unknown::Root(_)) {
            ErrorCode::Eio
        } else {
            ErrorCode::Eperm
        };
        assert_eq!(err.code(), want, "{}: {err}", c.what);
    }
}

#[test]
fn damaged_entries_are_reported_and_cleared() {
    use nexus_core::{DamageSink, DamagedRecord};
    use std::sync::{Arc, Mutex};
    #[derive(Default)]
    struct Sink(Mutex<Vec<(String, Vec<DamagedRecord>)>>);
    impl DamageSink for Sink {
        fn set_damaged(&self, scope: &str, records: &[DamagedRecord]) {
            self.0
                .lock()
                .unwrap()
                .push((scope.into(), records.to_vec()));
        }
    }
    let env = Env::new();
    let r = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let path = StatePath::parse(&format!("state:/trust/installed/{}", r.file_name())).unwrap();
    env.state.write(&path, b"format = 1\n").unwrap();
    let sink = Arc::new(Sink::default());
    let store = env.store().with_damage_sink(sink.clone());
    let last = |s: &Sink| s.0.lock().unwrap().last().cloned().unwrap();
    let (scope, records) = last(&sink);
    assert_eq!(scope, "trust");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].path, path.to_string());
    let nx = subject("system:nx");
    // Adding over it is refused (EIO, naming it); removing it needs no
    // parsing and clears the report.
    let err = store.add_installed(&nx, &admin(), &r).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    store.remove_installed(&nx, &admin(), &r.kid()).unwrap();
    assert!(last(&sink).1.is_empty());
    store.add_installed(&nx, &admin(), &r).unwrap();
    // A damaged distrust entry is rewritten by distrusting again.
    let dpath = StatePath::parse(&format!("state:/trust/distrusted/{}", r.kid())).unwrap();
    env.state.write(&dpath, b"garbage").unwrap();
    assert_eq!(store.load().unwrap().damaged().len(), 1);
    store.distrust(&nx, &admin(), &r.kid()).unwrap();
    let snap = store.load().unwrap();
    assert!(snap.damaged().is_empty());
    assert!(snap.find(&r.kid()).unwrap().distrusted);
}

#[test]
fn test_reject_writes_through_a_damaged_distrust_list() {
    let env = Env::new();
    let store = env.store();
    let r = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    let dir = env.tmp.path().join("state/trust");
    fs::create_dir_all(&dir).unwrap();
    let elsewhere = env.tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("distrusted")).unwrap();
    let nx = subject("system:nx");
    let err = store.distrust(&nx, &admin(), &r.kid()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    assert!(
        fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "not written through"
    );
    let err = store.add_installed(&nx, &admin(), &r).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    assert!(err.to_string().contains("state:/trust/distrusted"), "{err}");
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
