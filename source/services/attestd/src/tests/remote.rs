//! Unit tests of the remote backend's reply parsing: every malformed or
//! unusable keystored answer is refused with its exact code.

use super::*;
use ed25519_dalek::SigningKey;
use keymint::kid::ed25519_kid;
use nexus_core::{Coded, ErrorCode};
use nexus_daemon::UpstreamError;
use wire::{Args, Value};

fn device() -> Label {
    Label::new("device").unwrap()
}

/// Answers every call with one canned value.
struct Canned(Value);
impl Call for Canned {
    fn call(&self, _: &str, _: &Args, _: bool) -> Result<Value, UpstreamError> {
        Ok(self.0.clone())
    }
}

fn backend(v: Value) -> RemoteBackend {
    RemoteBackend::new(Box::new(Canned(v))).unwrap()
}

fn app_key() -> KeyName {
    KeyName::parse("com.a", "sign", "k").unwrap()
}

fn version(v: u64, state: &str, public: Value, kid: Value) -> Value {
    Args::new()
        .with("version", v)
        .with("state", state)
        .with("created", 1u64)
        .with("kid", kid)
        .with("public_key", public)
        .into_value()
}

/// A valid key-info for `app_key()` with one active version, edited by
/// `edit` (which may replace or drop fields).
fn info(edit: impl FnOnce(&mut Entries)) -> Value {
    let vk = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let kid = ed25519_kid(&vk).to_hex();
    let Value::Map(mut m) = Args::new()
        .with("app", "com.a")
        .with("purpose", "sign")
        .with("name", "k")
        .with("alg", "Ed25519")
        .with("state", "active")
        .with("primary", 1u64)
        .with("min_version", 1u64)
        .with("created", 1u64)
        .with("rotated", 1u64)
        .with(
            "versions",
            Value::Array(vec![version(
                1,
                "active",
                Value::Bytes(vk.as_bytes().to_vec()),
                Value::from(kid),
            )]),
        )
        .into_value()
    else {
        unreachable!()
    };
    edit(&mut m);
    Value::Map(m)
}

type Entries = Vec<(Value, Value)>;
type Edit = Box<dyn FnOnce(&mut Entries)>;

fn set(m: &mut Entries, k: &str, v: Value) {
    m.retain(|(key, _)| key.as_text() != Some(k));
    m.push((Value::from(k), v));
}

fn code(v: Value) -> ErrorCode {
    backend(v).attested_key(&app_key()).unwrap_err().code()
}

#[test]
fn valid_key_info_is_accepted() {
    let k = backend(info(|_| {})).attested_key(&app_key()).unwrap();
    assert_eq!(k.version, 1);
    assert_eq!(k.kid, ed25519_kid(&k.public));
}

#[test]
fn test_reject_malformed_key_info_with_eio() {
    let weak = {
        let mut w = [0u8; 32];
        w[0] = 1;
        w
    };
    let cases: Vec<Edit> = vec![
        Box::new(|m| m.retain(|(k, _)| k.as_text() != Some("primary"))),
        Box::new(|m| set(m, "primary", Value::from("1"))),
        Box::new(|m| set(m, "primary", Value::from(2u64))),
        Box::new(|m| set(m, "state", Value::from("frozen"))),
        Box::new(|m| set(m, "app", Value::from("com.b"))),
        Box::new(|m| set(m, "name", Value::from("other"))),
        Box::new(|m| set(m, "versions", Value::from(1u64))),
        Box::new(|m| set(m, "versions", Value::Array(vec![Value::from(1u64)]))),
        Box::new(|m| m.push((Value::from(1u64), Value::from(1u64)))),
        Box::new(|m| {
            let vk = SigningKey::from_bytes(&[7; 32]).verifying_key();
            let kid = Value::from(ed25519_kid(&vk).to_hex());
            set(
                m,
                "versions",
                Value::Array(vec![version(1, "active", Value::Bytes(vec![1; 31]), kid)]),
            );
        }),
        Box::new(|m| {
            let vk = SigningKey::from_bytes(&[7; 32]).verifying_key();
            set(
                m,
                "versions",
                Value::Array(vec![version(
                    1,
                    "active",
                    Value::Bytes(vk.as_bytes().to_vec()),
                    Value::from("zz"),
                )]),
            );
        }),
        Box::new(|m| {
            let vk = SigningKey::from_bytes(&[7; 32]).verifying_key();
            let other = ed25519_kid(&SigningKey::from_bytes(&[8; 32]).verifying_key());
            set(
                m,
                "versions",
                Value::Array(vec![version(
                    1,
                    "active",
                    Value::Bytes(vk.as_bytes().to_vec()),
                    Value::from(other.to_hex()),
                )]),
            );
        }),
        Box::new(move |m| {
            // Any well-formed kid: the weak key is refused before kids are compared.
            let kid = Kid::from_bytes([0x11; 32]);
            set(
                m,
                "versions",
                Value::Array(vec![version(
                    1,
                    "active",
                    Value::Bytes(weak.to_vec()),
                    Value::from(kid.to_hex()),
                )]),
            );
        }),
    ];
    for (i, edit) in cases.into_iter().enumerate() {
        assert_eq!(code(info(edit)), ErrorCode::Eio, "case {i}");
    }
    assert_eq!(code(Value::from("not a map")), ErrorCode::Eio);
    assert_eq!(code(Value::Map(vec![])), ErrorCode::Eio);
}

#[test]
fn test_reject_unusable_keys_with_their_codes() {
    assert_eq!(
        code(info(|m| set(m, "alg", Value::from("XChaCha20-Poly1305")))),
        ErrorCode::Einval
    );
    assert_eq!(
        code(info(|m| set(m, "state", Value::from("revoked")))),
        ErrorCode::Ekeyrevoked
    );
    for state in ["retired", "revoked"] {
        let vk = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let kid = Value::from(ed25519_kid(&vk).to_hex());
        let v = info(|m| {
            set(
                m,
                "versions",
                Value::Array(vec![version(
                    1,
                    state,
                    Value::Bytes(vk.as_bytes().to_vec()),
                    kid,
                )]),
            )
        });
        assert_eq!(code(v), ErrorCode::Ekeyrevoked, "{state}");
    }
}

#[test]
fn test_reject_malformed_sign_and_device_replies_with_eio() {
    let kid = ed25519_kid(&SigningKey::from_bytes(&[7; 32]).verifying_key()).to_hex();
    for reply in [
        Args::new()
            .with("sig", vec![0u8; 63])
            .with("kid", kid.as_str())
            .with("version", 1u64),
        Args::new()
            .with("sig", vec![0u8; 65])
            .with("kid", kid.as_str())
            .with("version", 1u64),
        Args::new()
            .with("sig", "text")
            .with("kid", kid.as_str())
            .with("version", 1u64),
        Args::new().with("sig", vec![0u8; 64]).with("version", 1u64),
        Args::new()
            .with("sig", vec![0u8; 64])
            .with("kid", kid.as_str())
            .with("version", -1i64),
    ] {
        let e = backend(reply.into_value())
            .sign_with_device_key(&device(), b"m")
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
    }
    let ok = Args::new()
        .with("sig", vec![0u8; 64])
        .with("kid", kid.as_str())
        .with("version", 1u64);
    assert_eq!(
        backend(ok.into_value())
            .sign_with_device_key(&device(), b"m")
            .unwrap()
            .version,
        1
    );

    for reply in [
        Args::new()
            .with("device_id", vec![0u8; 31])
            .with("insecure", false)
            .with("volatile", false),
        Args::new()
            .with("device_id", vec![0u8; 32])
            .with("insecure", 0u64)
            .with("volatile", false),
        Args::new()
            .with("device_id", vec![0u8; 32])
            .with("insecure", false),
    ] {
        assert_eq!(
            backend(reply.into_value()).info().unwrap_err().code(),
            ErrorCode::Eio
        );
    }
}
