//! The client against a scripted keymintd: keymintd's words reach the
//! caller, `ELOCKED` stays distinct, malformed replies are `EIO`, and the
//! requests carry the documented arguments.

use crate::RemoteKeyMint;
use keymint::{
    Algorithm, KeyIdentity, KeyMintError, KeyOps, SessionKeyOps, SessionLookup, VaultKeyOps,
    WrappedKey,
};
use nexus_core::{AppId, Coded, ErrorCode, Label, SessionId, Subject};
use nexus_daemon::SingleClient;
use std::os::unix::net::UnixStream;
use wire::{Args, CallContext, Client, Request, Server, ServerConfig, Value, WireError};

fn device() -> Value {
    Value::Map(vec![
        ("device_id".into(), Value::Bytes(vec![7; 32])),
        ("insecure".into(), false.into()),
        ("boot_id".into(), Value::Bytes(vec![3; 16])),
    ])
}

/// A keymintd answering `km.device` and, for every other op, `answer`.
fn scripted(
    answer: impl Fn(&str, &Args) -> Result<Value, WireError> + Send + Sync + 'static,
) -> (Server, RemoteKeyMint) {
    let server = Server::new(
        move |_: &CallContext, req: &Request| match req.op() {
            "km.device" => Ok(device()),
            op => answer(op, req.args()),
        },
        ServerConfig::default(),
    );
    let (ours, theirs) = UnixStream::pair().unwrap();
    let subject: Subject = "system:keystored".parse().unwrap();
    server.add_connection(theirs, subject).unwrap();
    let km =
        RemoteKeyMint::connect(SingleClient::new("keymintd", Client::from_stream(ours))).unwrap();
    (server, km)
}

fn ident(alg: Algorithm) -> KeyIdentity {
    KeyIdentity {
        app: AppId::new("com.example.alpha").unwrap(),
        purpose: Label::new("p").unwrap(),
        name: Label::new("n").unwrap(),
        version: 1,
        alg,
    }
}

#[test]
fn keymintds_message_reaches_the_caller() {
    let (_s, km) = scripted(|_, _| Err(WireError::new(ErrorCode::Eio, "authentication failed")));
    assert_eq!(km.device_id(), [7; 32]);
    let e = km
        .unseal(
            &ident(Algorithm::XChaCha20Poly1305),
            &WrappedKey::from_bytes(vec![1]),
            b"aad",
            b"sealed",
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
    assert_eq!(e.to_string(), "authentication failed");
}

#[test]
fn test_reject_locked_stays_locked() {
    let (_s, km) = scripted(|_, _| Err(WireError::new(ErrorCode::Elocked, "locked")));
    let sid = SessionId::from_bytes([1; 16]);
    let e = km.vault_seal(sid, b"aad", b"pt").unwrap_err();
    assert!(matches!(e, KeyMintError::Locked), "{e}");
    // A failure is never an answer: not "unknown", not "was not unsealed".
    assert_eq!(km.session_user(sid).unwrap_err().code(), ErrorCode::Elocked);
    assert_eq!(km.end_session(sid).unwrap_err().code(), ErrorCode::Elocked);
    assert_eq!(km.boot_id().unwrap(), [3; 16]);
}

#[test]
fn session_states_are_read_strictly() {
    let (_s, km) = scripted(|_, a| {
        let state = match a.get("sid") {
            Some(Value::Text(t)) if t.starts_with("01") || t.starts_with("05") => "locked",
            Some(Value::Text(t)) if t.starts_with("02") => "unknown",
            _ => "active",
        };
        // Session 05… gets a stamp that fails its check value.
        let mut stamp = keymint::SessionStamp::new([3; 16], 7).to_bytes().to_vec();
        if matches!(a.get("sid"), Some(Value::Text(t)) if t.starts_with("05")) {
            stamp[20] ^= 1;
        }
        // `others` always names session 04…, asked about or not.
        Ok(Value::Map(vec![
            ("state".into(), state.into()),
            ("owner".into(), Value::Null),
            (
                "others".into(),
                Value::Array(vec!["04".repeat(16).as_str().into()]),
            ),
            ("stamp".into(), Value::Bytes(stamp)),
        ]))
    });
    let sid = |b| SessionId::from_bytes([b; 16]);
    assert_eq!(
        km.session_check(sid(1), &[sid(4)]).unwrap().0,
        SessionLookup::Locked
    );
    assert_eq!(
        km.session_check(sid(2), &[sid(4)]).unwrap().0,
        SessionLookup::Unknown
    );
    // "active" without an owner is malformed, never a session.
    assert_eq!(
        km.session_check(sid(3), &[sid(4)]).unwrap_err().code(),
        ErrorCode::Eio
    );
    // A live session keymintd was not asked about is malformed too.
    assert_eq!(km.session_user(sid(1)).unwrap_err().code(), ErrorCode::Eio);
    // So is a stamp that does not parse.
    assert_eq!(
        km.session_check(sid(5), &[sid(4)]).unwrap_err().code(),
        ErrorCode::Eio
    );
    let (_, _, stamp) = km.session_check_stamped(sid(1), &[sid(4)]).unwrap();
    assert_eq!(stamp, Some(keymint::SessionStamp::new([3; 16], 7)));
    // No board given: no stamp without a round trip.
    assert_eq!(km.session_stamp(), None);
}

#[test]
fn test_reject_malformed_replies_as_eio() {
    let (_s, km) = scripted(|op, _| match op {
        "km.sign" => Ok(Value::Map(vec![("sig".into(), Value::Bytes(vec![0; 63]))])),
        "km.seal" => Ok(Value::Map(vec![("sealed".into(), "text".into())])),
        // A public key on a data key does not fit the algorithm.
        _ => Ok(Value::Map(vec![
            ("wrapped".into(), Value::Bytes(vec![1])),
            ("public".into(), Value::Bytes(vec![9; 32])),
        ])),
    });
    let blob = WrappedKey::from_bytes(vec![1]);
    let sign = km
        .sign(&ident(Algorithm::Ed25519), &blob, b"m")
        .unwrap_err();
    assert_eq!(sign.code(), ErrorCode::Eio);
    let seal = km
        .seal(
            &ident(Algorithm::XChaCha20Poly1305),
            &blob,
            b"a",
            b"secret-pt",
        )
        .unwrap_err();
    assert_eq!(seal.code(), ErrorCode::Eio);
    assert!(seal.to_string().contains("`sealed`"), "{seal}");
    assert!(!seal.to_string().contains("secret-pt"));
    let gen = km
        .generate(&ident(Algorithm::XChaCha20Poly1305))
        .unwrap_err();
    assert_eq!(gen.code(), ErrorCode::Eio);
}

#[test]
fn requests_carry_the_documented_arguments() {
    let (_s, km) = scripted(|op, a| {
        assert_eq!(op, "km.seal");
        let names: Vec<&str> = a.names().collect();
        assert_eq!(names, ["ident", "wrapped", "aad", "pt"]);
        assert_eq!(a.get("pt"), Some(&Value::Bytes(b"plain".to_vec())));
        let Some(Value::Map(ident)) = a.get("ident") else {
            panic!("ident is not a map")
        };
        assert_eq!(ident.len(), 5);
        Ok(Value::Map(vec![("sealed".into(), Value::Bytes(vec![5]))]))
    });
    let sealed = km
        .seal(
            &ident(Algorithm::XChaCha20Poly1305),
            &WrappedKey::from_bytes(vec![1]),
            b"a",
            b"plain",
        )
        .unwrap();
    assert_eq!(sealed, vec![5]);
}

#[test]
fn import_sends_the_seed_as_bytes_and_checks_the_public_key() {
    use keymint::Ed25519Seed;
    // The RFC 8032 §7.1 TEST 1 public key: what keymintd answers.
    let pk = [
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ];
    let (_s, km) = scripted(move |op, a| {
        assert_eq!(op, "km.import");
        assert_eq!(a.names().collect::<Vec<_>>(), ["ident", "private"]);
        assert_eq!(a.get("private"), Some(&Value::Bytes(vec![3; 32])));
        Ok(Value::Map(vec![
            ("wrapped".into(), Value::Bytes(vec![1])),
            ("public".into(), Value::Bytes(pk.to_vec())),
        ]))
    });
    let seed = Ed25519Seed::from_slice(&[3; 32]).unwrap();
    let g = km.import(&ident(Algorithm::Ed25519), &seed).unwrap();
    assert_eq!(g.public.unwrap().to_bytes(), pk);
    // A weak public key in the reply is refused (EIO), as for generate.
    let (_s, km) = scripted(|_, _| {
        let mut weak = vec![0u8; 32];
        weak[0] = 1;
        Ok(Value::Map(vec![
            ("wrapped".into(), Value::Bytes(vec![1])),
            ("public".into(), Value::Bytes(weak)),
        ]))
    });
    let e = km.import(&ident(Algorithm::Ed25519), &seed).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
}
