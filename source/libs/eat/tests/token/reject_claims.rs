//! Claims-set rejections: each token here carries a *valid* signature by
//! the device key over a payload that breaks the profile, so every refusal
//! comes from the claims checks, with its exact error and code.

use crate::common::*;
use detcbor::{DetCborError, Value};
use eat::{
    verify_token, verify_token_with, CustomClaims, CustomValue, EatError, Nonce, SwVersion,
    VerifyPolicy,
};
use keymint::ed25519::PublicKeyError;
use nexus_core::{Coded, ErrorCode};

fn good() -> Vec<u8> {
    sign(&claims(NONCE), &device_key())
}

fn edited(edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    resign_edited(&good(), &device_key(), edit)
}

fn verify(token: &[u8]) -> Result<eat::VerifiedClaims, EatError> {
    verify_token(token, device_key().verifying_key().as_bytes(), NONCE, NOW)
}

fn assert_refused(token: &[u8], want: EatError) {
    let err = verify(token).unwrap_err();
    assert_eq!(err, want);
    assert_eq!(err.code(), ErrorCode::Einval, "{want:?}");
}

/// The helper itself re-signs faithfully: an unedited round trip verifies.
#[test]
fn resigned_unchanged_token_verifies() {
    assert!(verify(&edited(|_| {})).is_ok());
}

#[test]
fn test_reject_missing_nonce() {
    assert_refused(&edited(|e| remove_claim(e, 10)), EatError::MissingClaim(10));
}

#[test]
fn test_reject_nonce_too_short_or_too_long() {
    for len in [0usize, 1, 7, 65, 200] {
        let t = edited(|e| set_claim(e, 10, Value::Bytes(vec![1; len])));
        assert_refused(&t, EatError::NonceLength);
    }
    // The bounds themselves are accepted.
    for len in [8usize, 64] {
        let n = vec![3u8; len];
        let t = sign(&claims(&n), &device_key());
        assert!(verify_token(&t, device_key().verifying_key().as_bytes(), &n, NOW).is_ok());
    }
    assert_eq!(Nonce::new(&[0; 7]), Err(EatError::NonceLength));
    assert_eq!(Nonce::new(&[0; 65]), Err(EatError::NonceLength));
}

#[test]
fn test_reject_nonce_wrong_type() {
    // RFC 9711 also allows an array of nonces; the profile does not.
    let t = edited(|e| set_claim(e, 10, Value::Array(vec![Value::Bytes(NONCE.to_vec())])));
    assert_refused(&t, EatError::BadClaim(10));
    let t = edited(|e| set_claim(e, 10, text("nonce-0123456789")));
    assert_refused(&t, EatError::BadClaim(10));
}

/// Hand-built payloads that are valid CBOR but not deterministic, signed
/// correctly: refused for their encoding alone.
#[test]
fn test_reject_non_deterministic_payload() {
    let dev = device_key();
    let entries = payload_entries(&good());
    // 1. Entries in reverse order.
    let mut reversed = vec![0xa9];
    for (k, v) in entries.iter().rev() {
        reversed.extend(detcbor::encode(k).unwrap());
        reversed.extend(detcbor::encode(v).unwrap());
    }
    assert_refused(
        &build_with_payload(&reversed, &dev),
        EatError::Cbor(DetCborError::UnsortedKeys),
    );
    // 2. Length-first order (RFC 7049 "canonical", cbor2 canonical=True).
    //    With an extra claim -1 (0x20) it differs from bytewise order: -1
    //    (one byte) sorts before 256 (19 0100) length-first, after it
    //    bytewise.
    let mut length_first = vec![0xaa];
    let mut sorted = entries.clone();
    sorted.push((int(-1), int(0)));
    sorted.sort_by_key(|(k, _)| {
        let b = detcbor::encode(k).unwrap();
        (b.len(), b)
    });
    for (k, v) in &sorted {
        length_first.extend(detcbor::encode(k).unwrap());
        length_first.extend(detcbor::encode(v).unwrap());
    }
    assert_refused(
        &build_with_payload(&length_first, &dev),
        EatError::Cbor(DetCborError::UnsortedKeys),
    );
    // 3. iat with a non-shortest head (8-byte form for a 4-byte value).
    let det = detcbor::encode(&Value::Map(entries.clone())).unwrap();
    assert_eq!(
        &det[1..3],
        &[0x06, 0x1a],
        "iat is the first claim, 4-byte uint"
    );
    let mut wide = vec![0xa9, 0x06, 0x1b, 0, 0, 0, 0];
    wide.extend_from_slice(&det[3..]);
    assert_refused(
        &build_with_payload(&wide, &dev),
        EatError::Cbor(DetCborError::NonShortest),
    );
    // 4. Indefinite-length map.
    let mut indef = vec![0xbf];
    indef.extend_from_slice(&det[1..]);
    indef.push(0xff);
    assert_refused(
        &build_with_payload(&indef, &dev),
        EatError::Cbor(DetCborError::IndefiniteLength),
    );
    // 5. Duplicate claim: the nonce entry twice, in place.
    let mut dup = vec![0xaa];
    for (k, v) in &entries {
        let times = if *k == int(10) { 2 } else { 1 };
        for _ in 0..times {
            dup.extend(detcbor::encode(k).unwrap());
            dup.extend(detcbor::encode(v).unwrap());
        }
    }
    assert_refused(
        &build_with_payload(&dup, &dev),
        EatError::Cbor(DetCborError::DuplicateKey),
    );
}

#[test]
fn test_reject_payload_not_a_claims_map() {
    let dev = device_key();
    for v in [Value::Array(vec![]), Value::Bytes(vec![]), int(1)] {
        let p = detcbor::encode(&v).unwrap();
        assert_refused(&build_with_payload(&p, &dev), EatError::ClaimsSet);
    }
    let t = edited(|e| e.push((text("iat"), int(1))));
    assert_refused(&t, EatError::ClaimsSet);
}

#[test]
fn test_reject_missing_required_claims() {
    for label in [6, 8, 256, 265, 266, 270, 271, -65537] {
        let t = edited(|e| remove_claim(e, label));
        assert_refused(&t, EatError::MissingClaim(label));
    }
}

#[test]
fn test_reject_unknown_claims() {
    // cti (7), exp (4), a label between the stub and the custom range's
    // end, a small negative label.
    for label in [7i64, 4, 1, 257, -1, -65536] {
        let t = edited(|e| set_claim(e, label, int(0)));
        assert_refused(&t, EatError::UnknownClaim(label));
    }
}

#[test]
fn test_reject_claims_of_the_wrong_type_or_value() {
    let cases: Vec<(i64, Value)> = vec![
        (6, int(-1)),
        (6, text("2026-01-01")),
        (256, Value::Bytes(vec![0x01; 17])),
        (256, Value::Bytes([vec![0x02], vec![0; 32]].concat())),
        (265, text("tag:nexus-os.org,2026:attest/v2")),
        (
            265,
            Value::Bytes(b"tag:nexus-os.org,2026:attest/v1".to_vec()),
        ),
        (266, Value::Map(vec![])),
        (
            266,
            Value::Map(vec![(
                text("apps"),
                Value::Map(vec![(int(270), text(APP))]),
            )]),
        ),
        (
            266,
            Value::Map(vec![(
                text("app"),
                Value::Map(vec![(int(270), text("../etc"))]),
            )]),
        ),
        (
            266,
            Value::Map(vec![(text("app"), Value::Map(vec![(int(271), text(APP))]))]),
        ),
        (
            266,
            Value::Map(vec![
                (text("app"), Value::Map(vec![(int(270), text(APP))])),
                (text("bpp"), Value::Map(vec![(int(270), text(APP))])),
            ]),
        ),
        (270, text("")),
        (270, text("name with spaces")),
        (271, text("0.1.0")),
        (271, Value::Array(vec![text("0.1.0")])),
        (271, Value::Array(vec![text("0.1.0"), int(1)])),
        (271, Value::Array(vec![text("v1"), int(16384)])),
        (-65537, text("hardware")),
        (-65537, Value::Bool(true)),
        (8, Value::Map(vec![])),
        (8, Value::Map(vec![(int(3), Value::Bytes(vec![0; 32]))])),
    ];
    for (label, v) in cases {
        let t = edited(|e| set_claim(e, label, v.clone()));
        let err = verify(&t).unwrap_err();
        assert_eq!(err, EatError::BadClaim(label), "{label}: {v:?}");
        assert_eq!(err.code(), ErrorCode::Einval);
    }
}

fn cose_key(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(vec![(
        int(1),
        Value::Map(entries.into_iter().map(|(l, v)| (int(l), v)).collect()),
    )])
}

#[test]
fn test_reject_bad_attested_key() {
    let k = key(2).verifying_key();
    let kid = Value::Bytes(device_kid(&key(2)).as_bytes().to_vec());
    let x = Value::Bytes(k.as_bytes().to_vec());
    let bad_cnfs = vec![
        // kid of another key.
        cose_key(vec![
            (1, int(1)),
            (2, Value::Bytes(device_kid(&key(9)).as_bytes().to_vec())),
            (-1, int(6)),
            (-2, x.clone()),
        ]),
        // EC2 / X25519 / missing kid / extra parameter.
        cose_key(vec![
            (1, int(2)),
            (2, kid.clone()),
            (-1, int(6)),
            (-2, x.clone()),
        ]),
        cose_key(vec![
            (1, int(1)),
            (2, kid.clone()),
            (-1, int(4)),
            (-2, x.clone()),
        ]),
        cose_key(vec![(1, int(1)), (-1, int(6)), (-2, x.clone())]),
        cose_key(vec![
            (1, int(1)),
            (2, kid.clone()),
            (3, int(-8)),
            (-1, int(6)),
            (-2, x.clone()),
        ]),
    ];
    for cnf in bad_cnfs {
        let t = edited(|e| set_claim(e, 8, cnf.clone()));
        assert_refused(&t, EatError::BadClaim(8));
    }
    // A weak attested key is refused by keymint's parser.
    let mut identity = vec![0u8; 32];
    identity[0] = 1;
    let weak = cose_key(vec![
        (1, int(1)),
        (2, kid),
        (-1, int(6)),
        (-2, Value::Bytes(identity)),
    ]);
    let t = edited(|e| set_claim(e, 8, weak));
    assert_refused(&t, EatError::AttestedKey(PublicKeyError::Weak));
}

#[test]
fn test_reject_custom_claims_out_of_bounds() {
    let mut c = CustomClaims::new();
    // The stub label and anything above the custom range.
    for label in [-65537, -65536, -1, 0, 1000] {
        assert_eq!(
            c.insert(label, CustomValue::Int(0)),
            Err(nexus_core::ClaimError)
        );
    }
    assert_eq!(
        c.insert(-65538, CustomValue::Bytes(vec![0; 257])),
        Err(nexus_core::ClaimError)
    );
    assert_eq!(
        c.insert(-65538, CustomValue::Text("x".repeat(257))),
        Err(nexus_core::ClaimError)
    );
    assert_eq!(
        c.insert(-65538, CustomValue::Text("a\u{1b}[31m".into())),
        Err(nexus_core::ClaimError)
    );
    c.insert(-65538, CustomValue::Int(1)).unwrap();
    assert_eq!(
        c.insert(-65538, CustomValue::Int(2)),
        Err(nexus_core::ClaimError)
    );
    for i in 1..16 {
        c.insert(-65538 - i, CustomValue::Int(i)).unwrap();
    }
    let err = c.insert(-70_000, CustomValue::Int(0)).unwrap_err();
    assert_eq!(EatError::from(err), EatError::CustomClaim);
    assert_eq!(err.code(), ErrorCode::Einval);

    // The same bounds hold on verify, for tokens built elsewhere.
    let t = edited(|e| set_claim(e, -65538, Value::Bytes(vec![0; 257])));
    assert_refused(&t, EatError::CustomClaim);
    let t = edited(|e| set_claim(e, -65538, Value::Array(vec![])));
    assert_refused(&t, EatError::CustomClaim);
    let t = edited(|e| {
        for i in 0..17 {
            set_claim(e, -65538 - i, int(i));
        }
    });
    assert_refused(&t, EatError::CustomClaim);
}

#[test]
fn test_reject_bad_swversion_input() {
    for v in ["", "v1.0", "1.0 beta", "1.0\n", &"1".repeat(65)] {
        assert_eq!(SwVersion::new(v), Err(EatError::ClaimValue), "{v:?}");
    }
    assert!(SwVersion::new("1.4.0-rc.1+build.7").is_ok());
}

#[test]
fn test_reject_outside_time_window() {
    let token = good();
    let pk = device_key().verifying_key();
    let p = VerifyPolicy::DEFAULT;
    let err = verify_token(&token, pk.as_bytes(), NONCE, NOW + p.max_age_secs + 1).unwrap_err();
    assert_eq!(err, EatError::Expired);
    assert_eq!(err.code(), ErrorCode::Eperm);
    let err = verify_token(
        &token,
        pk.as_bytes(),
        NONCE,
        NOW - p.max_future_skew_secs - 1,
    )
    .unwrap_err();
    assert_eq!(err, EatError::NotYetValid);
    assert_eq!(err.code(), ErrorCode::Eperm);
    let none = VerifyPolicy {
        max_age_secs: 0,
        max_future_skew_secs: 0,
    };
    let err = verify_token_with(&token, pk.as_bytes(), NONCE, NOW + 1, &none).unwrap_err();
    assert_eq!(err, EatError::Expired);
}
