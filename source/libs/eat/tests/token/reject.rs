//! Envelope, header, key and signature rejections, each with its exact
//! error and code.

use crate::common::*;
use detcbor::{DetCborError, Value};
use eat::{verify_token, EatError};
use keymint::ed25519::PublicKeyError;
use nexus_core::{Coded, ErrorCode};

/// Verify with the usual device key, nonce and time; return the error.
fn refuse(token: &[u8]) -> EatError {
    let dev = device_key();
    verify_token(token, dev.verifying_key().as_bytes(), NONCE, NOW).unwrap_err()
}

fn assert_refused(token: &[u8], want: EatError, code: ErrorCode) {
    let err = refuse(token);
    assert_eq!(err, want);
    assert_eq!(err.code(), code);
}

fn good() -> Vec<u8> {
    sign(&claims(NONCE), &device_key())
}

#[test]
fn test_reject_flipped_byte_anywhere() {
    let token = good();
    let pk = device_key().verifying_key();
    assert!(verify_token(&token, pk.as_bytes(), NONCE, NOW).is_ok());
    for i in 0..token.len() {
        for bit in 0..8 {
            let mut t = token.clone();
            t[i] ^= 1 << bit;
            let err = verify_token(&t, pk.as_bytes(), NONCE, NOW)
                .expect_err(&format!("byte {i} bit {bit} accepted"));
            assert!(
                matches!(err.code(), ErrorCode::Eperm | ErrorCode::Einval),
                "byte {i} bit {bit}: {err:?}"
            );
        }
    }
}

#[test]
fn test_reject_wrong_nonce() {
    let dev = device_key();
    let token = good();
    let err = verify_token(
        &token,
        dev.verifying_key().as_bytes(),
        b"nonce-0123456788",
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, EatError::NonceMismatch);
    assert_eq!(err.code(), ErrorCode::Eperm);
    // A prefix of the right nonce is not the right nonce.
    let err = verify_token(&token, dev.verifying_key().as_bytes(), &NONCE[..8], NOW).unwrap_err();
    assert_eq!(err, EatError::NonceMismatch);
}

#[test]
fn test_reject_expected_nonce_out_of_range() {
    let dev = device_key();
    let token = good();
    for n in [&[0u8; 0][..], &[1u8; 7], &[1u8; 65]] {
        let err = verify_token(&token, dev.verifying_key().as_bytes(), n, NOW).unwrap_err();
        assert_eq!(err, EatError::NonceLength);
        assert_eq!(err.code(), ErrorCode::Einval);
    }
}

#[test]
fn test_reject_wrong_alg() {
    let dev = device_key();
    let payload = detcbor::encode(&Value::Map(payload_entries(&good()))).unwrap();
    // ES256, EdDSA's Ed448 sibling id, HMAC, a private-use id.
    for alg in [-7, -9, -35, 5, -65537, 0] {
        let protected = detcbor::encode(&header(alg, &device_kid(&dev))).unwrap();
        let token = build_raw(&protected, Value::Map(vec![]), &payload, &dev, Some(18));
        assert_refused(&token, EatError::UnsupportedAlg, ErrorCode::Einval);
    }
    // alg as text.
    let protected = detcbor::encode(&Value::Map(vec![
        (int(1), text("EdDSA")),
        (int(4), Value::Bytes(device_kid(&dev).as_bytes().to_vec())),
    ]))
    .unwrap();
    let token = build_raw(&protected, Value::Map(vec![]), &payload, &dev, Some(18));
    assert_refused(&token, EatError::UnsupportedAlg, ErrorCode::Einval);
}

#[test]
fn test_reject_protected_header_shape() {
    let dev = device_key();
    let payload = detcbor::encode(&Value::Map(payload_entries(&good()))).unwrap();
    let kid = Value::Bytes(device_kid(&dev).as_bytes().to_vec());
    let shapes = [
        Value::Map(vec![]),
        Value::Map(vec![(int(1), int(-8))]),
        Value::Map(vec![(int(4), kid.clone())]),
        // content type, or any extra label.
        Value::Map(vec![
            (int(1), int(-8)),
            (int(3), int(61)),
            (int(4), kid.clone()),
        ]),
        // kid of the wrong length or type.
        Value::Map(vec![(int(1), int(-8)), (int(4), Value::Bytes(vec![0; 31]))]),
        Value::Map(vec![(int(1), int(-8)), (int(4), text("kid"))]),
        Value::Array(vec![int(-8), kid]),
    ];
    for h in shapes {
        let protected = detcbor::encode(&h).unwrap();
        let token = build_raw(&protected, Value::Map(vec![]), &payload, &dev, Some(18));
        assert_refused(&token, EatError::ProtectedHeader, ErrorCode::Einval);
    }
    // crit ([4]) nests an array, deeper than the header's depth limit of 1.
    let crit = Value::Map(vec![
        (int(1), int(-8)),
        (int(2), Value::Array(vec![int(4)])),
        (int(4), Value::Bytes(device_kid(&dev).as_bytes().to_vec())),
    ]);
    let token = build_raw(
        &detcbor::encode(&crit).unwrap(),
        Value::Map(vec![]),
        &payload,
        &dev,
        Some(18),
    );
    assert_refused(
        &token,
        EatError::Cbor(DetCborError::DepthExceeded),
        ErrorCode::Einval,
    );
    // An empty protected bstr (h'') is not a map at all.
    let token = build_raw(&[], Value::Map(vec![]), &payload, &dev, Some(18));
    assert_refused(
        &token,
        EatError::Cbor(DetCborError::Truncated),
        ErrorCode::Einval,
    );
    // A protected header encoded with keys in length-first order would be
    // fine for other tools, but is not deterministic: refused.
    let mut nondet = vec![0xa2, 0x04, 0x58, 0x20];
    nondet.extend_from_slice(device_kid(&dev).as_bytes());
    nondet.extend_from_slice(&[0x01, 0x27]);
    let token = build_raw(&nondet, Value::Map(vec![]), &payload, &dev, Some(18));
    assert_refused(
        &token,
        EatError::Cbor(DetCborError::UnsortedKeys),
        ErrorCode::Einval,
    );
}

#[test]
fn test_reject_unprotected_header_not_empty() {
    let dev = device_key();
    let payload = detcbor::encode(&Value::Map(payload_entries(&good()))).unwrap();
    let protected = detcbor::encode(&header(-8, &device_kid(&dev))).unwrap();
    let unprotected = Value::Map(vec![(int(4), Value::Bytes(vec![1; 32]))]);
    let token = build_raw(&protected, unprotected, &payload, &dev, Some(18));
    assert_refused(&token, EatError::UnprotectedHeader, ErrorCode::Einval);
}

#[test]
fn test_reject_weak_device_key() {
    let token = good();
    // The identity point: small order, would accept forged signatures.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let err = verify_token(&token, &identity, NONCE, NOW).unwrap_err();
    assert_eq!(err, EatError::DeviceKey(PublicKeyError::Weak));
    assert_eq!(err.code(), ErrorCode::Einval);
    for bad in [&[0u8; 31][..], &[0u8; 33], &[]] {
        let err = verify_token(&token, bad, NONCE, NOW).unwrap_err();
        assert_eq!(err, EatError::DeviceKey(PublicKeyError::Length));
        assert_eq!(err.code(), ErrorCode::Einval);
    }
}

#[test]
fn test_reject_wrong_kid() {
    let dev = device_key();
    let other = key(3);
    let payload = detcbor::encode(&Value::Map(payload_entries(&good()))).unwrap();
    // Signed by the device key, but naming another key's kid.
    let protected = detcbor::encode(&header(-8, &device_kid(&other))).unwrap();
    let token = build_raw(&protected, Value::Map(vec![]), &payload, &dev, Some(18));
    assert_refused(&token, EatError::KidMismatch, ErrorCode::Eperm);
    // A good token checked against another device's key.
    let err = verify_token(&good(), other.verifying_key().as_bytes(), NONCE, NOW).unwrap_err();
    assert_eq!(err, EatError::KidMismatch);
    assert_eq!(err.code(), ErrorCode::Eperm);
}

#[test]
fn test_reject_bad_signature() {
    let mut token = good();
    let last = token.len() - 1;
    token[last] ^= 0x01;
    assert_refused(&token, EatError::BadSignature, ErrorCode::Eperm);
}

/// S + L: the same signature with a non-reduced scalar, which only a
/// non-strict verifier would accept.
#[test]
fn test_reject_non_canonical_signature() {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut token = good();
    let s_start = token.len() - 32;
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let sum = u16::from(token[s_start + i]) + u16::from(*l) + carry;
        token[s_start + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    assert_refused(&token, EatError::BadSignature, ErrorCode::Eperm);
}

#[test]
fn test_reject_untagged_or_wrongly_tagged() {
    let token = good();
    assert_eq!(token[0], 0xd2);
    assert_refused(&token[1..], EatError::NotCoseSign1, ErrorCode::Einval);
    // COSE_Mac0 (17), COSE_Sign (98), COSE_Encrypt0 (16).
    for tag in [17u64, 98, 16] {
        let Value::Tag(18, body) = detcbor::check_deterministic(&token).unwrap() else {
            panic!()
        };
        let t = detcbor::encode(&Value::Tag(tag, body)).unwrap();
        assert_refused(&t, EatError::NotCoseSign1, ErrorCode::Einval);
    }
    // The CWT tag (61) around tag 18 is not part of the profile; the extra
    // level already exceeds the envelope's depth limit.
    let wrapped = detcbor::encode(&Value::Tag(
        61,
        Box::new(detcbor::check_deterministic(&token).unwrap()),
    ))
    .unwrap();
    assert_refused(
        &wrapped,
        EatError::Cbor(DetCborError::DepthExceeded),
        ErrorCode::Einval,
    );
    // Tag 61 around a non-container is within the limits and refused for
    // its tag.
    let t = detcbor::encode(&Value::Tag(61, Box::new(Value::Bytes(token.clone())))).unwrap();
    assert_refused(&t, EatError::NotCoseSign1, ErrorCode::Einval);
    // Tag 18 around something other than a four-element array.
    for body in [
        Value::Map(vec![]),
        Value::Array(vec![]),
        Value::Array(vec![Value::Bytes(vec![]); 5]),
    ] {
        let t = detcbor::encode(&Value::Tag(18, Box::new(body))).unwrap();
        assert_refused(&t, EatError::Structure, ErrorCode::Einval);
    }
}

#[test]
fn test_reject_trailing_bytes() {
    let mut token = good();
    token.push(0x00);
    assert_refused(
        &token,
        EatError::Cbor(DetCborError::TrailingBytes),
        ErrorCode::Einval,
    );
}

#[test]
fn test_reject_truncated() {
    let token = good();
    for cut in [0, 1, 2, token.len() / 2, token.len() - 1] {
        assert_refused(
            &token[..cut],
            EatError::Cbor(DetCborError::Truncated),
            ErrorCode::Einval,
        );
    }
}

#[test]
fn test_reject_oversized() {
    let big = vec![0u8; eat::MAX_TOKEN_LEN + 1];
    assert_refused(&big, EatError::TooLarge, ErrorCode::Einval);
}

#[test]
fn test_reject_detached_payload_and_bad_signature_length() {
    let dev = device_key();
    let protected = detcbor::encode(&header(-8, &device_kid(&dev))).unwrap();
    let detached = detcbor::encode(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected.clone()),
            Value::Map(vec![]),
            Value::Null,
            Value::Bytes(vec![0; 64]),
        ])),
    ))
    .unwrap();
    assert_refused(&detached, EatError::Structure, ErrorCode::Einval);
    for len in [0usize, 63, 65] {
        let t = detcbor::encode(&Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(protected.clone()),
                Value::Map(vec![]),
                Value::Bytes(vec![0xa0]),
                Value::Bytes(vec![0; len]),
            ])),
        ))
        .unwrap();
        assert_refused(&t, EatError::Structure, ErrorCode::Einval);
    }
}

/// The envelope itself must be deterministic: the same token with a
/// non-shortest array head is refused before any crypto.
#[test]
fn test_reject_non_deterministic_envelope() {
    let token = good();
    let mut t = vec![0xd2, 0x98, 0x04];
    t.extend_from_slice(&token[2..]);
    assert_refused(
        &t,
        EatError::Cbor(DetCborError::NonShortest),
        ErrorCode::Einval,
    );
}

/// The largest shapes a peer can hand the verifier: each is refused from
/// its size or its heads, before any claim is looked at.
#[test]
fn test_reject_worst_case_tokens() {
    // One byte over the limit.
    assert_refused(
        &vec![0u8; eat::MAX_TOKEN_LEN + 1],
        EatError::TooLarge,
        ErrorCode::Einval,
    );
    // A token-sized run of nested arrays under the COSE tag.
    let mut deep = vec![0xd2];
    deep.resize(eat::MAX_TOKEN_LEN - 1, 0x81);
    deep.push(0x00);
    assert_refused(
        &deep,
        EatError::Cbor(DetCborError::DepthExceeded),
        ErrorCode::Einval,
    );
    // A token-sized array of one-byte items: over the item cap at once.
    let mut many = vec![0xd2, 0x99];
    let n = u16::try_from(eat::MAX_TOKEN_LEN - 4).unwrap();
    many.extend_from_slice(&n.to_be_bytes());
    many.resize(eat::MAX_TOKEN_LEN, 0);
    assert_refused(
        &many,
        EatError::Cbor(DetCborError::TooManyItems),
        ErrorCode::Einval,
    );
}
