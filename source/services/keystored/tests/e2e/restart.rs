//! Killing keystored and starting it again over the same state: clients
//! recover (re-issued endpoints, or reconnecting to the public socket)
//! and every acknowledged write (keys, vault entries) is still there.
//! Killing keymintd under keystored: key and vault operations answer
//! `EAGAIN` naming keymintd at once (never `ELOCKED`, never after a wait),
//! and serve again once keymintd's endpoint is re-issued.

use crate::common::{args, bytes, field, text, Stack, ALPHA};
use nexus_core::{Coded, ErrorCode};
use std::time::Instant;
use wire::{Args, ClientConfig, ReconnectingClient, Value};

#[test]
fn restart_keeps_acknowledged_writes_and_clients_recover() {
    let mut s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let alice = s.login("alice", 0x11, 0xa1);
    let sid = text(&alice.to_string());
    let mut alpha = s.keystored.connect(ALPHA);
    let mut admin =
        ReconnectingClient::new(s.run().join("keystored.sock"), ClientConfig::default());
    let key = |extra: &[(&'static str, Value)]| {
        let mut v = vec![("purpose", text("signing")), ("name", text("k"))];
        v.extend_from_slice(extra);
        args(&v)
    };
    let created = alpha
        .call("key.create", &key(&[("alg", text("Ed25519"))]))
        .unwrap();
    let kid = field(&created, "kid");
    alpha.call("key.rotate", &key(&[])).unwrap();
    for i in 0..5 {
        alpha
            .call(
                "vault.put",
                &args(&[
                    ("sid", sid.clone()),
                    ("name", text(&format!("e{i}"))),
                    ("value", bytes(format!("value-{i}").as_bytes())),
                ]),
            )
            .unwrap();
    }
    admin.call_idempotent("status", &Args::new()).unwrap();

    let t0 = Instant::now();
    let old = s.restart_keystored();
    old.wait_stderr("keystored: serving");
    s.keystored.wait_for("keystore: ready");
    let restart = t0.elapsed();
    eprintln!("keystored restart to ready: {restart:?}");

    // The old endpoint is dead; the supervisor hands a new one.
    assert!(alpha.call("status", &Args::new()).is_err());
    let mut alpha = s.keystored.connect(ALPHA);
    let info = alpha.call("key.show", &key(&[])).unwrap();
    assert_eq!(field(&info, "primary"), Value::Integer(2.into()));
    let versions = field(&info, "versions");
    assert_eq!(field(&versions.as_array().unwrap()[0], "kid"), kid);
    alpha
        .call("key.sign", &key(&[("msg", bytes(b"after"))]))
        .unwrap();
    for i in 0..5 {
        let got = alpha
            .call(
                "vault.get",
                &args(&[("sid", sid.clone()), ("name", text(&format!("e{i}")))]),
            )
            .unwrap();
        assert_eq!(field(&got, "value"), bytes(format!("value-{i}").as_bytes()));
    }
    // The public-socket client reconnects by itself.
    admin.call_idempotent("status", &Args::new()).unwrap();
    assert_eq!(
        alpha
            .call("key.create", &key(&[("alg", text("Ed25519"))]))
            .unwrap_err()
            .code(),
        ErrorCode::Ealready
    );
}

#[test]
fn control_channel_eof_stops_keystored_cleanly() {
    let mut s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let status = s.keystored.close_control();
    assert_eq!(status.code(), Some(0), "{}", s.keystored.stderr());
    assert!(!s.run().join("keystored.sock").exists());
}

#[test]
fn test_reject_key_and_vault_ops_with_eagain_at_once_while_keymintd_is_down() {
    let mut s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let alice = s.login("alice", 0x11, 0xa1);
    let sid = text(&alice.to_string());
    let mut alpha = s.keystored.connect(ALPHA);
    let key = |extra: &[(&'static str, Value)]| {
        let mut v = vec![("purpose", text("signing")), ("name", text("k"))];
        v.extend_from_slice(extra);
        args(&v)
    };
    alpha
        .call("key.create", &key(&[("alg", text("Ed25519"))]))
        .unwrap();
    let entry = args(&[("sid", sid.clone()), ("name", text("e"))]);
    let mut put = entry.clone();
    put = put.with("value", bytes(b"v"));
    alpha.call("vault.put", &put).unwrap();

    s.kill_keymintd();
    let down = [
        ("key.sign", key(&[("msg", bytes(b"m"))])),
        ("vault.get", entry.clone()),
        ("vault.put", put.clone()),
        (
            "key.create",
            key(&[("alg", text("Ed25519"))]).with("name", "k2"),
        ),
    ];
    for round in 0..3 {
        for (op, a) in &down {
            let t0 = Instant::now();
            let e = alpha.call(op, a).unwrap_err();
            let took = t0.elapsed();
            assert_eq!(e.code(), ErrorCode::Eagain, "{op}: {e}");
            assert!(
                e.to_string().contains("keymintd is unavailable; try again"),
                "{op}: {e}"
            );
            // At once: the old code waited 10 s for an endpoint, then EIO
            // (key ops) or ELOCKED (vault ops).
            assert!(
                took < std::time::Duration::from_secs(5),
                "{op} took {took:?} (round {round})"
            );
        }
    }
    // keystored itself kept serving what needs no keymintd.
    alpha.call("key.show", &key(&[])).unwrap();

    s.start_keymintd();
    alpha
        .call("key.sign", &key(&[("msg", bytes(b"m"))]))
        .unwrap();
}
