//! The updated process over real sockets: the process contract (ready
//! only once serving, volatile said, control-channel EOF exits 0, a
//! missing trust directory stops it before ready) and every `update.*` op
//! with the caller's subject coming from the handed-over endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod verified;

use crate::common::{env, keymint, ready, spawn, stage, text};
use nexus_core::ErrorCode;
use nexus_daemon::testkit::{field, remote_code};
use std::time::Duration;
use wire::{Args, Value};

#[test]
fn stages_commits_and_keeps_the_ab_state() {
    let e = env();
    let state = e.tmp.path().join("state");
    let run = e.tmp.path().join("run");
    let km = keymint(Some(&state), &run);
    let d = spawn(Some(&state), &run, &e.trust, Some(&km));
    assert_eq!(ready(&d), "updated: ready");
    assert!(run.join("updated.sock").exists());

    let mut admin = d.connect("system:admin");
    let status = admin.call("status", &Args::new()).unwrap();
    assert_eq!(text(&status, "service"), "updated");
    assert_eq!(field(&status, "volatile"), &Value::Bool(false));
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(text(&st, "active"), "a");
    assert_eq!(field(&st, "pending"), &Value::Null);

    let v1 = e.update("1.0");
    let staged = stage(&mut admin, &v1).unwrap();
    assert_eq!(text(&staged, "slot"), "b");
    assert_eq!(text(&staged, "version"), "1.0");
    assert_eq!(text(&staged, "signer_kid"), e.root.kid().to_hex());
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(text(&st, "pending"), "b");
    assert_eq!(text(field(&st, "versions"), "b"), "1.0");
    assert_eq!(text(field(&st, "versions"), "a"), env!("CARGO_PKG_VERSION"));
    assert_eq!(remote_code(stage(&mut admin, &v1)), ErrorCode::Ebusy);
    let committed = admin.call("update.commit", &Args::new()).unwrap();
    assert_eq!(text(&committed, "active"), "b");
    assert_eq!(text(&committed, "version"), "1.0");

    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
    let d = spawn(Some(&state), &run, &e.trust, Some(&km));
    assert_eq!(ready(&d), "updated: ready");
    let mut admin = d.connect("system:admin");
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(text(&st, "active"), "b", "the commit survives a restart");
    assert_eq!(remote_code(stage(&mut admin, &v1)), ErrorCode::Ealready);
    let v2 = e.update("2.0");
    assert_eq!(text(&stage(&mut admin, &v2).unwrap(), "slot"), "a");
    admin.call("update.rollback", &Args::new()).unwrap();
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(field(&st, "pending"), &Value::Null);
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_callers_without_the_capability_and_bad_arguments() {
    let e = env();
    let km = keymint(None, &e.tmp.path().join("run"));
    let d = spawn(None, &e.tmp.path().join("run"), &e.trust, Some(&km));
    assert_eq!(ready(&d), "updated: ready (volatile)");
    let v1 = e.update("1.0");
    let mut selftest = d.connect("system:selftest");
    assert_eq!(remote_code(stage(&mut selftest, &v1)), ErrorCode::Eperm);
    assert_eq!(
        remote_code(selftest.call("update.commit", &Args::new())),
        ErrorCode::Eperm
    );
    let mut app = d.connect("app:com.example.alpha");
    assert_eq!(remote_code(stage(&mut app, &v1)), ErrorCode::Eperm);
    // Reads need no capability.
    assert_eq!(
        text(&app.call("update.status", &Args::new()).unwrap(), "active"),
        "a"
    );
    let mut admin = d.connect("system:admin");
    assert_eq!(
        remote_code(admin.call("update.stage", &Args::new().with("path", "rel"))),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("update.commit", &Args::new().with("force", true))),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("update.frob", &Args::new())),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("update.rollback", &Args::new())),
        ErrorCode::Enoent
    );
    assert_eq!(
        remote_code(admin.call("update.commit", &Args::new())),
        ErrorCode::Enoent
    );
    // Older than the running image: a downgrade, refused unless forced.
    let old = e.update("0.0.1");
    assert_eq!(remote_code(stage(&mut admin, &old)), ErrorCode::Eperm);
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
