//! The wire ops of docs/architecture/services.md, through the real
//! `wire::Server` and client: replies, argument checks, markers.

use crate::common::*;
use attestd::AttestdHandler;
use nexus_core::ErrorCode;
use nexus_daemon::testkit::{field, remote_code};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use wire::{Args, Client, Server, ServerConfig, Value};

struct Served {
    server: Server,
    markers: Arc<Mutex<Vec<String>>>,
    stack: Stack,
}

impl Served {
    fn new(dir: &std::path::Path) -> Served {
        let stack = Stack::open(dir, POLICY);
        let markers = Arc::new(Mutex::new(Vec::new()));
        let sink = markers.clone();
        let svc = Arc::new(stack.start_local().unwrap());
        let handler = AttestdHandler::new(
            svc,
            Box::new(move |m: &str| sink.lock().unwrap().push(m.to_owned())),
        );
        Served {
            server: Server::new(handler, ServerConfig::default()),
            markers,
            stack,
        }
    }

    /// A client whose channel subject is `subject`.
    fn client(&self, subject_name: &str) -> Client {
        let (a, b) = UnixStream::pair().unwrap();
        self.server
            .add_connection(b, subject(subject_name))
            .unwrap();
        Client::from_stream(a)
    }

    fn markers(&self) -> Vec<String> {
        self.markers.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

fn attest_args(nonce: &[u8]) -> Args {
    Args::new()
        .with("purpose", "sign")
        .with("name", "k")
        .with("nonce", Value::Bytes(nonce.to_vec()))
}

#[test]
fn attest_reply_and_marker_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::new(dir.path());
    let key = s.stack.create_key(ALPHA, "sign", "k");
    let kid = s
        .stack
        .store
        .public_key(&subject(ALPHA), &key, None)
        .unwrap()
        .kid;
    let mut c = s.client(ALPHA);

    let claims = Value::Map(vec![
        (Value::from(-65538i64), Value::from("hello")),
        (Value::from(-65539i64), Value::Bytes(vec![1, 2, 3])),
        (Value::from(-65540i64), Value::from(true)),
        (Value::from(-65541i64), Value::from(-5i64)),
    ]);
    let reply = c
        .call("attest", &attest_args(NONCE).with("claims", claims))
        .unwrap();
    let token = field(&reply, "token").as_bytes().unwrap();
    let device_kid = field(&reply, "device_kid").as_text().unwrap();

    let dk = c.call("attest.device_key", &Args::new()).unwrap();
    let public = field(&dk, "public_key").as_bytes().unwrap();
    assert_eq!(field(&dk, "kid").as_text().unwrap(), device_kid);
    assert_eq!(field(&dk, "version").as_integer().unwrap(), 1.into());
    let v = eat::verify_token(token, public, NONCE, NOW).unwrap();
    assert_eq!(v.claims.app_id.as_str(), "com.example.alpha");
    assert_eq!(v.claims.custom.len(), 4);
    assert_eq!(
        s.markers(),
        [format!("attest: ok app=com.example.alpha key={kid}")]
    );

    // Failures print no marker.
    assert_eq!(
        remote_code(c.call("attest", &attest_args(b"short"))),
        ErrorCode::Einval
    );
    assert_eq!(s.markers().len(), 1);
}

#[test]
fn test_reject_bad_attest_requests_with_exact_codes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::new(dir.path());
    s.stack.create_key(ALPHA, "sign", "k");
    s.stack.create_key(BETA, "sign", "k");
    let mut c = s.client(ALPHA);
    let cases: Vec<(Args, ErrorCode)> = vec![
        // Missing nonce; nonce of the wrong type; out of range.
        (
            Args::new().with("purpose", "sign").with("name", "k"),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with("nonce", "text-nonce-0123"),
            ErrorCode::Einval,
        ),
        (attest_args(&[0; 65]), ErrorCode::Einval),
        // Bad key names.
        (
            attest_args(NONCE).with("purpose", "../x"),
            ErrorCode::Einval,
        ),
        // The caller's app id cannot be set: no such argument.
        (
            attest_args(NONCE).with("app_id", "com.example.beta"),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with("subject", "app:com.example.beta"),
            ErrorCode::Einval,
        ),
        // `app` may only name the caller's own namespace.
        (
            attest_args(NONCE).with("app", "com.example.beta"),
            ErrorCode::Eperm,
        ),
        // Custom claims: wrong type, reserved or in-profile labels, bad
        // values, too many.
        (
            attest_args(NONCE).with("claims", Value::Array(vec![])),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with(
                "claims",
                Value::Map(vec![(Value::from(-65537i64), Value::from("x"))]),
            ),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with(
                "claims",
                Value::Map(vec![(Value::from(10i64), Value::from("x"))]),
            ),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with(
                "claims",
                Value::Map(vec![(Value::from("label"), Value::from("x"))]),
            ),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with(
                "claims",
                Value::Map(vec![(Value::from(-65538i64), Value::Float(1.5))]),
            ),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with(
                "claims",
                Value::Map(vec![(Value::from(-65538i64), Value::from("x".repeat(257)))]),
            ),
            ErrorCode::Einval,
        ),
        (
            attest_args(NONCE).with(
                "claims",
                Value::Map(
                    (0..17)
                        .map(|i| (Value::from(-65538i64 - i), Value::from(true)))
                        .collect(),
                ),
            ),
            ErrorCode::Einval,
        ),
    ];
    for (args, want) in cases {
        assert_eq!(remote_code(c.call("attest", &args)), want, "{args:?}");
    }
    assert!(s.markers().is_empty());
    // The own app, named explicitly, is fine.
    c.call(
        "attest",
        &attest_args(NONCE).with("app", "com.example.alpha"),
    )
    .unwrap();
}

#[test]
fn device_key_rotation_and_status_ops() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::new(dir.path());
    let mut app = s.client(ALPHA);
    let mut admin = s.client(ADMIN);
    let before = app.call("attest.device_key", &Args::new()).unwrap();
    assert_eq!(
        remote_code(app.call("attest.rotate_device_key", &Args::new())),
        ErrorCode::Eperm
    );
    let rotated = admin
        .call("attest.rotate_device_key", &Args::new())
        .unwrap();
    assert_eq!(field(&rotated, "version").as_integer().unwrap(), 2.into());
    assert_ne!(field(&rotated, "kid"), field(&before, "kid"));
    let after = app.call("attest.device_key", &Args::new()).unwrap();
    assert_eq!(after, rotated);
    assert_eq!(
        remote_code(admin.call("attest.rotate_device_key", &Args::new().with("x", 1u64))),
        ErrorCode::Einval
    );

    let st = app.call("status", &Args::new()).unwrap();
    assert_eq!(field(&st, "service").as_text(), Some("attestd"));
    assert_eq!(field(&st, "volatile").as_bool(), Some(false));
    assert_eq!(field(&st, "insecure").as_bool(), Some(false));
    assert_eq!(
        field(&st, "version").as_text(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        remote_code(app.call("attest.nope", &Args::new())),
        ErrorCode::Einval
    );
}
