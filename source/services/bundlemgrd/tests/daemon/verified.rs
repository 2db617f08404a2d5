//! Attacks on bundlemgrd over its real socket: installed files changed or
//! removed on disk are reported for their bundle (never listed as good),
//! an upgrade signed by another root than the installed bundle's is
//! refused, `force` needs its own capability, and a damaged record fails
//! only its bundle while the daemon serves the rest.

use crate::common::{env, install, names, ready, spawn, spawn_with, system_root, Env, APP};
use nexus_core::ErrorCode;
use nexus_daemon::testkit::{self, field, flip, refusal, remote_code, Proc};
use std::fs;
use wire::{Args, Client, ClientError, Value};

const OTHER: &str = "com.example.other";

fn call(c: &mut Client, op: &str) -> Result<Value, ClientError> {
    c.call(op, &Args::new())
}

fn start(e: &Env) -> Proc {
    let d = spawn(Some(&e.state()), &e.run(), &e.trust, Some(e.km()));
    assert_eq!(ready(&d), "bundlemgrd: ready");
    d
}

/// `status`'s `damaged` list.
fn damaged(c: &mut Client) -> Vec<String> {
    testkit::damaged(&call(c, "status").unwrap())
}

/// `bundle.list`'s entry for `name`.
fn entry(c: &mut Client, name: &str) -> Value {
    let list = call(c, "bundle.list").unwrap();
    field(&list, "bundles")
        .as_array()
        .unwrap()
        .iter()
        .find(|b| field(b, "name").as_text() == Some(name))
        .unwrap_or_else(|| panic!("{name} is not listed"))
        .clone()
}

/// The entry's error code and message; `None` for an intact bundle.
fn problem(b: &Value) -> Option<(String, String)> {
    match field(b, "error") {
        Value::Null => None,
        err => Some((
            field(err, "code").as_text().unwrap().to_owned(),
            field(err, "msg").as_text().unwrap().to_owned(),
        )),
    }
}

#[test]
fn test_reject_listing_a_bundle_whose_file_changed() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    install(&mut admin, &e.bundle("1.0")).unwrap();
    install(&mut admin, &e.bundle_of(OTHER, "1.0", &e.key)).unwrap();
    assert_eq!(problem(&entry(&mut admin, APP)), None);

    let file = e.state().join(format!("apps/{APP}/1.0/bin/app"));
    flip(&file, 1);
    let location = format!("state:/apps/{APP}/1.0/bin/app");
    let (code, msg) = problem(&entry(&mut admin, APP)).expect("reported");
    assert_eq!(code, "EIO");
    assert!(msg.contains(&location), "{msg}");
    // Only that bundle.
    assert_eq!(problem(&entry(&mut admin, OTHER)), None);
    assert_eq!(damaged(&mut admin), std::slice::from_ref(&location));
    d.wait_stderr(&location);
    // A removed file likewise.
    fs::remove_file(&file).unwrap();
    let (code, msg) = problem(&entry(&mut admin, APP)).expect("reported");
    assert_eq!(code, "EIO");
    assert!(msg.contains(&location) && msg.contains("missing"), "{msg}");
    // Installing it again (forced, same version) repairs it.
    let again = Args::new()
        .with("path", e.bundle("1.0").to_str().unwrap())
        .with("force", true);
    admin.call("bundle.install", &again).unwrap();
    assert_eq!(problem(&entry(&mut admin, APP)), None);
    assert!(damaged(&mut admin).is_empty());
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_upgrade_signed_by_another_root() {
    let e = env();
    let (other_key, other_root) = system_root(&e.trust, "other-publisher");
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    install(&mut admin, &e.bundle("1.0")).unwrap();
    // Another root trusted for `packages` may sign bundles, but not
    // replace one that the first signer owns; not even by force.
    let hijack = e.bundle_of(APP, "2.0", &other_key);
    let (code, msg) = refusal(install(&mut admin, &hijack));
    assert_eq!(code, ErrorCode::Eperm, "{msg}");
    assert!(msg.contains(&e.root.kid().to_hex()), "{msg}");
    let forced = Args::new()
        .with("path", hijack.to_str().unwrap())
        .with("force", true);
    assert_eq!(
        remote_code(admin.call("bundle.install", &forced)),
        ErrorCode::Eperm
    );
    assert_eq!(
        field(&entry(&mut admin, APP), "version").as_text(),
        Some("1.0")
    );
    // Its own bundles it installs, and the first signer upgrades its own.
    let got = install(&mut admin, &e.bundle_of(OTHER, "1.0", &other_key)).unwrap();
    assert_eq!(
        field(&got, "signer_kid").as_text(),
        Some(other_root.kid().to_hex().as_str())
    );
    install(&mut admin, &e.bundle("2.0")).unwrap();
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_forced_install_without_the_force_capability() {
    let e = env();
    let policy = testkit::policy_with_subject(
        e.tmp.path(),
        &crate::common::policy(),
        "system:installer",
        &["identity.bundle.install"],
    );
    let d = spawn_with(Some(&e.state()), &e.run(), &e.trust, &policy, Some(e.km()));
    assert_eq!(ready(&d), "bundlemgrd: ready");
    let mut installer = d.connect("system:installer");
    install(&mut installer, &e.bundle("2.0")).unwrap();
    let old = Args::new()
        .with("path", e.bundle("1.0").to_str().unwrap())
        .with("force", true);
    assert_eq!(
        remote_code(installer.call("bundle.install", &old)),
        ErrorCode::Eperm
    );
    assert_eq!(
        field(&entry(&mut installer, APP), "version").as_text(),
        Some("2.0")
    );
    let mut admin = d.connect("system:admin");
    admin.call("bundle.install", &old).unwrap();
    assert_eq!(
        field(&entry(&mut admin, APP), "version").as_text(),
        Some("1.0")
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_damaged_bundle_record_only_for_that_bundle() {
    let e = env();
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    install(&mut admin, &e.bundle("1.0")).unwrap();
    install(&mut admin, &e.bundle_of(OTHER, "1.0", &e.key)).unwrap();
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
    flip(&e.state().join(format!("apps/{APP}/installed")), 20);
    let location = format!("state:/apps/{APP}/installed");

    let d = start(&e);
    d.wait_stderr(&location);
    let mut admin = d.connect("system:admin");
    assert_eq!(damaged(&mut admin), std::slice::from_ref(&location));
    let (code, msg) = problem(&entry(&mut admin, APP)).expect("reported");
    assert_eq!(code, "EIO");
    assert!(msg.contains(&location), "{msg}");
    assert_eq!(field(&entry(&mut admin, APP), "version"), &Value::Null);
    assert_eq!(problem(&entry(&mut admin, OTHER)), None);
    // The other bundle upgrades; the damaged one refuses what needs its
    // record, and can be uninstalled.
    install(&mut admin, &e.bundle_of(OTHER, "2.0", &e.key)).unwrap();
    let (code, msg) = refusal(install(&mut admin, &e.bundle("2.0")));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert!(msg.contains(&location), "{msg}");
    admin
        .call("bundle.uninstall", &Args::new().with("name", APP))
        .unwrap();
    assert_eq!(names(&call(&mut admin, "bundle.list").unwrap()), [OTHER]);
    assert!(damaged(&mut admin).is_empty());
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_symlinked_installed_root() {
    let e = env();
    let (key2, root2) = {
        let outside = e.tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        system_root(&outside, "linked")
    };
    // An installed root's file moved out of the store and linked back:
    // never followed, never skipped.
    let (store, grants, who) = e.trust_writer();
    store.add_installed(&who, &grants, &root2).unwrap();
    let file = e.state().join("trust/installed").join(root2.file_name());
    let target = e.tmp.path().join("outside").join("moved.toml");
    fs::rename(&file, &target).unwrap();
    std::os::unix::fs::symlink(&target, &file).unwrap();
    let location = format!("state:/trust/installed/{}", root2.file_name());
    let d = start(&e);
    let mut admin = d.connect("system:admin");
    let (code, msg) = refusal(install(&mut admin, &e.bundle_of(OTHER, "1.0", &key2)));
    assert_eq!(code, ErrorCode::Eio, "{msg}");
    assert!(msg.contains(&location), "{msg}");
    assert_eq!(damaged(&mut admin), [location]);
    // Bundles of the intact root install.
    install(&mut admin, &e.bundle("1.0")).unwrap();
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}
