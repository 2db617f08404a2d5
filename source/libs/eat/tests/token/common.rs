//! Shared test fixtures: fixed keys, sample claims, an in-process signer,
//! and a hand-built COSE_Sign1 so negative tests can sign exactly the bytes
//! they mean to present (a real signature over a bad payload or header).

use detcbor::{Integer, Value};
use eat::{Claims, CustomClaims, Nonce, SwVersion, Ueid};
use ed25519_dalek::{Signer, SigningKey};
use keymint::kid::{ed25519_kid, Kid};
use nexus_core::{AppId, Coded, ErrorCode, Label};

pub const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const NONCE: &[u8] = b"nonce-0123456789";
pub const APP: &str = "com.example.notes";

/// A deterministic key, distinct per seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn device_key() -> SigningKey {
    key(1)
}

pub fn device_kid(k: &SigningKey) -> Kid {
    ed25519_kid(&k.verifying_key())
}

pub fn claims(nonce: &[u8]) -> Claims {
    Claims {
        iat: NOW,
        nonce: Nonce::new(nonce).unwrap(),
        ueid: Ueid::from_random([0x5a; 32]),
        attested_key: key(2).verifying_key(),
        app_id: AppId::new(APP).unwrap(),
        swname: Label::new("nexus-attestd").unwrap(),
        swversion: SwVersion::new("0.1.0").unwrap(),
        custom: CustomClaims::new(),
    }
}

/// A signer error for tests; carries the code a real signer would return.
#[derive(Debug)]
pub struct SignerError(pub ErrorCode);

impl Coded for SignerError {
    fn code(&self) -> ErrorCode {
        self.0
    }
}

pub fn signer(k: &SigningKey) -> impl FnOnce(&[u8]) -> Result<[u8; 64], SignerError> + '_ {
    move |msg| Ok(k.sign(msg).to_bytes())
}

pub fn sign(c: &Claims, k: &SigningKey) -> Vec<u8> {
    eat::sign_token(c, &device_kid(k), signer(k)).unwrap()
}

pub fn int(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The protected header this crate writes: `{1: alg, 4: kid}`.
pub fn header(alg: i64, kid: &Kid) -> Value {
    Value::Map(vec![
        (int(1), int(alg)),
        (int(4), Value::Bytes(kid.as_bytes().to_vec())),
    ])
}

/// The claims map of a real token, as entries in wire order.
pub fn payload_entries(token: &[u8]) -> Vec<(Value, Value)> {
    let Value::Tag(18, body) = detcbor::check_deterministic(token).unwrap() else {
        panic!("not tagged")
    };
    let Value::Array(parts) = *body else {
        panic!("not an array")
    };
    let Value::Bytes(p) = &parts[2] else {
        panic!("no payload")
    };
    let Value::Map(m) = detcbor::check_deterministic(p).unwrap() else {
        panic!("payload not a map")
    };
    m
}

/// Sign arbitrary protected-header and payload *bytes* with `k` and wrap
/// them as `tag([protected, unprotected, payload, sig])` (no tag if None).
pub fn build_raw(
    protected: &[u8],
    unprotected: Value,
    payload: &[u8],
    k: &SigningKey,
    tag: Option<u64>,
) -> Vec<u8> {
    let tbs = Value::Array(vec![
        text("Signature1"),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.to_vec()),
    ]);
    let sig = k.sign(&detcbor::encode(&tbs).unwrap()).to_bytes();
    let body = Value::Array(vec![
        Value::Bytes(protected.to_vec()),
        unprotected,
        Value::Bytes(payload.to_vec()),
        Value::Bytes(sig.to_vec()),
    ]);
    let v = match tag {
        Some(t) => Value::Tag(t, Box::new(body)),
        None => body,
    };
    detcbor::encode(&v).unwrap()
}

/// A validly signed token (by `k`, with its kid and alg -8) over the given
/// payload bytes.
pub fn build_with_payload(payload: &[u8], k: &SigningKey) -> Vec<u8> {
    let protected = detcbor::encode(&header(-8, &device_kid(k))).unwrap();
    build_raw(&protected, Value::Map(vec![]), payload, k, Some(18))
}

/// Re-sign a real token after editing its claims map.
pub fn resign_edited(
    token: &[u8],
    k: &SigningKey,
    edit: impl FnOnce(&mut Vec<(Value, Value)>),
) -> Vec<u8> {
    let mut entries = payload_entries(token);
    edit(&mut entries);
    build_with_payload(&detcbor::encode(&Value::Map(entries)).unwrap(), k)
}

/// Replace (or add) the claim at `label`.
pub fn set_claim(entries: &mut Vec<(Value, Value)>, label: i64, v: Value) {
    entries.retain(|(k, _)| *k != int(label));
    entries.push((int(label), v));
}

pub fn remove_claim(entries: &mut Vec<(Value, Value)>, label: i64) {
    entries.retain(|(k, _)| *k != int(label));
}
