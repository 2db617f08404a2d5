//! The caller table and argument checking, over raw wire connections.

use crate::common::{Keymintd, Mode, APP, IDENTITYD, KEYSTORED};
use keymintd::access::{Caller, Op};
use nexus_core::{Coded, ErrorCode};
use std::io::{Read, Write};
use wire::{Args, Client, Value};

fn code(c: &mut Client, op: &str, args: Args) -> ErrorCode {
    c.call(op, &args).unwrap_err().code()
}

#[test]
fn test_reject_every_op_from_an_app_and_audit_it() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let mut app = k.connect(APP);
    for op in Op::ALL {
        assert_eq!(
            code(&mut app, op.name(), Args::new()),
            ErrorCode::Eperm,
            "{op:?}"
        );
    }
    // Unknown ops too: an outsider learns nothing about the table.
    assert_eq!(code(&mut app, "km.nope", Args::new()), ErrorCode::Eperm);
    // Another service asking for an op that is not its own is refused too.
    let mut attestd = k.connect("system:attestd");
    assert_eq!(
        code(&mut attestd, "km.device", Args::new()),
        ErrorCode::Eperm
    );

    let audit = k.run.path().join("audit/keymintd.jsonl");
    let log = std::fs::read_to_string(audit).unwrap();
    let denials = log
        .lines()
        .filter(|l| l.contains(r#""subject":"app:com.example.alpha""#))
        .filter(|l| l.contains(r#""decision":"deny""#))
        .count();
    assert_eq!(denials, Op::ALL.len() + 1);
    assert!(log.contains(r#""subject":"system:attestd","capability":"km.device""#));
}

#[test]
fn test_reject_each_services_ops_for_the_other() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let mut keystored = k.connect(KEYSTORED);
    let mut identityd = k.connect(IDENTITYD);
    let mut checked = 0;
    for op in Op::ALL {
        for (caller, client) in [
            (Caller::Keystored, &mut keystored),
            (Caller::Identityd, &mut identityd),
        ] {
            if op.allows(caller) {
                // Allowed: anything but EPERM (empty args are EINVAL
                // where the op takes arguments).
                match client.call(op.name(), &Args::new()) {
                    Ok(_) => {}
                    Err(e) => assert_eq!(e.code(), ErrorCode::Einval, "{op:?}"),
                }
            } else {
                assert_eq!(code(client, op.name(), Args::new()), ErrorCode::Eperm);
                checked += 1;
            }
        }
    }
    // 8 of identityd's for keystored (the session and verifier ops
    // included), 10 of keystored's for identityd (km.import, km.forget
    // and km.trust_key included).
    assert_eq!(checked, 18);
    let status = Args::from_value(keystored.call("status", &Args::new()).unwrap()).unwrap();
    assert_eq!(status.text("service").unwrap(), "keymintd");
    assert!(status.bool("volatile").unwrap());
    assert_eq!(status.bool("insecure").unwrap(), keymint::INSECURE_BUILD);
    assert_eq!(status.text("version").unwrap(), env!("CARGO_PKG_VERSION"));
}

fn ident() -> Value {
    Args::new()
        .with("app", "com.example.alpha")
        .with("purpose", "test")
        .with("name", "k")
        .with("version", 1u64)
        .with("alg", "Ed25519")
        .into_value()
}

#[test]
fn test_reject_malformed_arguments_and_keep_serving() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let mut ks = k.connect(KEYSTORED);
    let mut id = k.connect(IDENTITYD);
    let bad_ks = [
        ("km.generate", Args::new()),
        ("km.generate", Args::new().with("ident", "k")),
        (
            "km.generate",
            Args::new().with("ident", ident()).with("x", 1u64),
        ),
        (
            "km.sign",
            Args::new()
                .with("ident", ident())
                .with("msg", Value::Bytes(vec![1])),
        ),
        (
            "km.sign",
            Args::new()
                .with("ident", ident())
                .with("wrapped", "text, not bytes")
                .with("msg", Value::Bytes(vec![1])),
        ),
        ("km.session.user", Args::new().with("sid", "not-a-sid")),
        // `others` is required, and at most MAX_SESSION_OTHERS.
        ("km.session.user", Args::new().with("sid", "0e".repeat(16))),
        (
            "km.session.user",
            Args::new().with("sid", "0e".repeat(16)).with(
                "others",
                Value::Array(
                    (0..=nexus_proto::limits::MAX_SESSION_OTHERS)
                        .map(|n| format!("{n:032x}").into())
                        .collect(),
                ),
            ),
        ),
        (
            "km.forget",
            Args::new()
                .with("app", "../x")
                .with("purpose", "p")
                .with("name", "n"),
        ),
        ("km.vault.seal", Args::new().with("sid", "00".repeat(16))),
        ("km.device", Args::new().with("extra", true)),
        ("km.nope", Args::new()),
    ];
    for (op, args) in bad_ks {
        assert_eq!(code(&mut ks, op, args), ErrorCode::Einval, "{op}");
    }
    let owner = |user: &str, instance: &str| {
        Value::Map(vec![
            ("user".into(), user.into()),
            ("instance".into(), instance.into()),
            ("legacy".into(), false.into()),
        ])
    };
    let good = "0f".repeat(16);
    let bad_id = [
        (
            "km.vault_key.create",
            Args::new()
                .with("owner", owner("alice", &good))
                .with("auth", Value::Bytes(vec![1; 31])),
        ),
        (
            "km.vault_key.create",
            Args::new()
                .with("owner", owner("../alice", &good))
                .with("auth", Value::Bytes(vec![1; 32])),
        ),
        (
            "km.vault_key.create",
            Args::new()
                .with("owner", owner("alice", "alice"))
                .with("auth", Value::Bytes(vec![1; 32])),
        ),
        ("km.session.end", Args::new().with("sid", 5u64)),
        ("km.session.end_instance", Args::new().with("instance", "x")),
        (
            "km.verifier.mac",
            Args::new().with("input", Value::Bytes(vec![1; 33])),
        ),
        (
            "km.session.sync",
            Args::new().with("sessions", Value::Array(vec!["x".into()])),
        ),
    ];
    for (op, args) in bad_id {
        assert_eq!(code(&mut id, op, args), ErrorCode::Einval, "{op}");
    }
    // A bad message value is never echoed.
    let e = id
        .call(
            "km.vault_key.create",
            &Args::new()
                .with("owner", owner("secretname!", &good))
                .with("auth", Value::Bytes(vec![1; 32])),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    assert!(!e.to_string().contains("secretname"));

    // A frame that is not CBOR closes only its own connection.
    let mut raw = k.endpoint(KEYSTORED);
    raw.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert!(reply.windows(6).any(|w| w == b"EINVAL"));

    // Both earlier connections still work.
    ks.call("km.device", &Args::new()).unwrap();
    id.call("km.device", &Args::new()).unwrap();
}

#[test]
fn each_service_gets_its_own_state_key_and_only_trust_parties_the_trust_key() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let key = |subject: &str, op: &str| -> Result<Vec<u8>, ErrorCode> {
        let mut c = k.connect(subject);
        match c.call(op, &Args::new()) {
            Ok(v) => match nexus_daemon::testkit::field(&v, "key") {
                wire::Value::Bytes(b) => Ok(b.clone()),
                other => panic!("not bytes: {other:?}"),
            },
            Err(e) => Err(e.remote_code().expect("a refusal")),
        }
    };
    let services = ["keystored", "identityd", "attestd", "bundlemgrd", "updated"];
    let keys: Vec<Vec<u8>> = services
        .iter()
        .map(|s| key(&format!("system:{s}"), "km.state_key").unwrap())
        .collect();
    for (i, a) in keys.iter().enumerate() {
        assert_eq!(a.len(), 32);
        for b in &keys[i + 1..] {
            assert_ne!(a, b, "two services share a state key");
        }
    }
    // Stable for a subject.
    assert_eq!(key("system:keystored", "km.state_key").unwrap(), keys[0]);
    let trust = key("system:keystored", "km.trust_key").unwrap();
    for s in ["system:bundlemgrd", "system:updated"] {
        assert_eq!(key(s, "km.trust_key").unwrap(), trust);
    }
    for s in ["system:identityd", "system:attestd"] {
        assert_eq!(key(s, "km.trust_key"), Err(ErrorCode::Eperm), "{s}");
    }
    assert_eq!(key("system:admin", "km.state_key"), Err(ErrorCode::Eperm));
    assert_eq!(key(APP, "km.state_key"), Err(ErrorCode::Eperm));
}
