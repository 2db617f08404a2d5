//! A damaged record of the trust store fails only the answers that
//! depend on it: each kind of damage, what it leaves unknown, what still
//! verifies beside it; reports to the damage sink; writes around it.
use crate::common::*;
use nexus_core::{Capability, Coded, ErrorCode};
use statefs::StatePath;
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Scope, TrustError, TrustStore, Unknown};

fn admin() -> Grants {
    Grants::new(&[("system:nx", Capability::TrustWrite)])
}

/// `root` installed through the store (listed in its manifest).
fn installed_by_the_store(env: &Env, root: &trust::TrustRoot) {
    env.store()
        .add_installed(&subject("system:nx"), &admin(), root)
        .unwrap();
}

/// `kid` distrusted through the store (listed in its manifest).
fn distrusted_by_the_store(env: &Env, kid: &trust::Kid) {
    env.store()
        .distrust(&subject("system:nx"), &admin(), kid)
        .unwrap();
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
                        r.to_toml().replace("format = 2", "format = 3"),
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
            // Under the manifest an entry it does not list is never a
            // root: reported, deciding nothing.
            location: installed("sub"),
            unknown: Unknown::Nothing,
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
            // The first layout cannot be upgraded around an entry that
            // names no kid: the whole state side stays unknown.
            location: "state:/trust/manifest".into(),
            unknown: Unknown::StateSide,
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
                let kid = trust::Kid::from_hex(&"cd".repeat(32)).unwrap();
                fs::write(d.join("ab".repeat(32)), trust::distrust_toml(&kid)).unwrap();
            }),
            location: format!("pkg://trust/distrusted/{}", "ab".repeat(32)),
            unknown: Unknown::DistrustOf(trust::Kid::from_hex(&"ab".repeat(32)).unwrap()),
            intact_verifies: true,
        },
        Case {
            what: "shipped distrust entry of the first format (no checksum)",
            setup: Box::new(|e| {
                let d = e.system_dir.join("distrusted");
                fs::create_dir(&d).unwrap();
                let kid = "cd".repeat(32);
                fs::write(d.join(&kid), format!("format = 1\nkid = \"{kid}\"\n")).unwrap();
            }),
            location: format!("pkg://trust/distrusted/{}", "cd".repeat(32)),
            unknown: Unknown::DistrustOf(trust::Kid::from_hex(&"cd".repeat(32)).unwrap()),
            intact_verifies: true,
        },
        Case {
            what: "installed root changed after it was installed",
            setup: Box::new({
                let r = r.clone();
                move |e| {
                    installed_by_the_store(e, &r);
                    let p = e
                        .tmp
                        .path()
                        .join(format!("state/trust/installed/{}", r.file_name()));
                    let mut b = fs::read(&p).unwrap();
                    let at = b.len() / 2;
                    b[at] ^= 1;
                    fs::write(&p, b).unwrap();
                }
            }),
            location: installed(&root.file_name()),
            unknown: Unknown::Root(Some(root.kid())),
            intact_verifies: true,
        },
        Case {
            what: "distrust entry of the intact root removed after it was written",
            setup: Box::new({
                let g = g.clone();
                move |e| {
                    distrusted_by_the_store(e, &g.kid());
                    let p = e
                        .tmp
                        .path()
                        .join(format!("state/trust/distrusted/{}", g.kid()));
                    fs::remove_file(p).unwrap();
                }
            }),
            location: distrusted(&good.kid().to_hex()),
            unknown: Unknown::DistrustOf(good.kid()),
            intact_verifies: false,
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
        let want = if matches!(c.unknown, Unknown::Root(_) | Unknown::StateSide) {
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
