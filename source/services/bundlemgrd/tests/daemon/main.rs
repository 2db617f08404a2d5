//! The bundlemgrd process over real sockets: the process contract (ready
//! only once serving, volatile said, control-channel EOF exits 0, a
//! missing trust directory stops it before ready) and every `bundle.*` op
//! with the caller's subject coming from the handed-over endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod verified;

use crate::common::{env, install, keymint, names, ready, spawn, Env, APP};
use nexus_core::ErrorCode;
use nexus_daemon::testkit::{field, remote_code};
use std::fs;
use std::time::Duration;
use trust::minisign::MinisignSecretKey;
use wire::{Args, Value};

#[test]
fn serves_bundle_ops_to_the_channel_subject_and_keeps_them() {
    let e = env();
    let state = e.tmp.path().join("state");
    let run = e.tmp.path().join("run");
    let km = keymint(Some(&state), &run);
    let d = spawn(Some(&state), &run, &e.trust, Some(&km));
    assert_eq!(ready(&d), "bundlemgrd: ready");
    assert!(run.join("bundlemgrd.sock").exists());

    let mut admin = d.connect("system:admin");
    let status = admin.call("status", &Args::new()).unwrap();
    assert_eq!(field(&status, "service").as_text(), Some("bundlemgrd"));
    assert_eq!(field(&status, "volatile"), &Value::Bool(false));

    let v1 = e.bundle("1.0");
    let got = install(&mut admin, &v1).unwrap();
    assert_eq!(field(&got, "name").as_text(), Some(APP));
    assert_eq!(field(&got, "version").as_text(), Some("1.0"));
    assert_eq!(
        field(&got, "signer_kid").as_text(),
        Some(e.root.kid().to_hex().as_str())
    );
    assert_eq!(
        names(&admin.call("bundle.list", &Args::new()).unwrap()),
        [APP]
    );
    assert_eq!(remote_code(install(&mut admin, &v1)), ErrorCode::Ealready);
    let d = {
        let (st, err) = d.finish();
        assert_eq!(st.code(), Some(0), "{err}");
        spawn(Some(&state), &run, &e.trust, Some(&km))
    };
    assert_eq!(ready(&d), "bundlemgrd: ready");
    let mut admin = d.connect("system:admin");
    assert_eq!(
        names(&admin.call("bundle.list", &Args::new()).unwrap()),
        [APP],
        "the installed bundle survives a restart"
    );
    admin
        .call("bundle.uninstall", &Args::new().with("name", APP))
        .unwrap();
    assert!(names(&admin.call("bundle.list", &Args::new()).unwrap()).is_empty());
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_callers_without_the_capability_and_bad_arguments() {
    let e = env();
    let km = keymint(None, &e.tmp.path().join("run"));
    let d = spawn(None, &e.tmp.path().join("run"), &e.trust, Some(&km));
    assert_eq!(ready(&d), "bundlemgrd: ready (volatile)");
    let v1 = e.bundle("1.0");
    let mut selftest = d.connect("system:selftest");
    assert_eq!(remote_code(install(&mut selftest, &v1)), ErrorCode::Eperm);
    let mut app = d.connect("app:com.example.alpha");
    assert_eq!(remote_code(install(&mut app, &v1)), ErrorCode::Eperm);
    assert_eq!(
        remote_code(app.call("bundle.uninstall", &Args::new().with("name", APP))),
        ErrorCode::Eperm
    );
    // Reads need no capability.
    assert!(names(&selftest.call("bundle.list", &Args::new()).unwrap()).is_empty());

    let mut admin = d.connect("system:admin");
    assert_eq!(
        remote_code(admin.call("bundle.install", &Args::new().with("path", "relative/dir"))),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(
            admin.call(
                "bundle.install",
                &Args::new()
                    .with("path", v1.to_str().unwrap())
                    .with("app", "x")
            )
        ),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("bundle.frob", &Args::new())),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("bundle.uninstall", &Args::new().with("name", APP))),
        ErrorCode::Enoent
    );
    // A file changed after signing: an integrity failure (EIO); a bundle
    // signed by a key the store does not hold: EPERM.
    fs::write(v1.join("bin/app"), "evil").unwrap();
    assert_eq!(remote_code(install(&mut admin, &v1)), ErrorCode::Eio);
    let stranger = Env {
        key: MinisignSecretKey::generate().unwrap(),
        ..env()
    };
    assert_eq!(
        remote_code(install(&mut admin, &stranger.bundle("2.0"))),
        ErrorCode::Eperm
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_missing_trust_dir_before_ready() {
    let e = env();
    let missing = e.tmp.path().join("no-such-trust");
    let d = spawn(None, &e.tmp.path().join("run"), &missing, None);
    assert!(
        d.next_line(Duration::from_secs(5)).is_none(),
        "no marker may be printed"
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("fatal"), "{err}");
}
