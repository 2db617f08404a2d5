//! Tokens this crate signs verify, say what was signed, agree with coset's
//! independent view of the COSE structure, and follow key rotation.

use crate::common::*;
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};
use detcbor::Value;
use eat::{
    sign_token, verify_token, verify_token_with, Alg, Assurance, CustomClaims, CustomValue,
    EatError, VerifyPolicy,
};
use nexus_core::{Coded, ErrorCode};

#[test]
fn round_trip() {
    let dev = device_key();
    let c = claims(NONCE);
    let token = sign(&c, &dev);
    let v = verify_token(&token, dev.verifying_key().as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.claims, c);
    assert_eq!(v.device_kid, device_kid(&dev));
    assert_eq!(v.attested_kid, device_kid(&key(2)));
    assert_eq!(v.alg, Alg::EdDsa);
    assert_eq!(v.assurance, Assurance::SoftwareStub);
}

#[test]
fn round_trip_with_custom_claims_at_the_limits() {
    let dev = device_key();
    let mut c = claims(&[7u8; 64]);
    let mut custom = CustomClaims::new();
    custom.insert(-65538, CustomValue::Int(i64::MIN)).unwrap();
    custom.insert(-65539, CustomValue::Bool(true)).unwrap();
    custom
        .insert(-65540, CustomValue::Text("é".repeat(128)))
        .unwrap();
    for i in 0..13 {
        custom
            .insert(-70_000 - i, CustomValue::Bytes(vec![0xee; 256]))
            .unwrap();
    }
    assert_eq!(custom.len(), eat::MAX_CUSTOM_CLAIMS);
    c.custom = custom;
    c.app_id = nexus_core::AppId::new("a".repeat(64)).unwrap();
    let token = sign(&c, &dev);
    assert!(token.len() <= eat::MAX_TOKEN_LEN);
    let v = verify_token(&token, dev.verifying_key().as_bytes(), &[7u8; 64], NOW).unwrap();
    assert_eq!(v.claims, c);
}

/// Every field at its maximum size: the token stays well under the limit.
#[test]
fn largest_token_fits() {
    let dev = device_key();
    let mut c = claims(&[9u8; 64]);
    c.iat = u64::MAX;
    c.app_id = nexus_core::AppId::new("a".repeat(64)).unwrap();
    c.swname = nexus_core::Label::new("s".repeat(64)).unwrap();
    c.swversion = eat::SwVersion::new(format!("1{}", ".".repeat(63))).unwrap();
    for i in 0..16 {
        c.custom
            .insert(i64::MIN + i, CustomValue::Text("x".repeat(256)))
            .unwrap();
    }
    let token = sign(&c, &dev);
    assert!(token.len() < 4900, "{}", token.len());
    let v = verify_token(&token, dev.verifying_key().as_bytes(), &[9u8; 64], u64::MAX).unwrap();
    assert_eq!(v.claims, c);
}

/// Ed25519 is deterministic, so the same claims give the same token; the
/// claims come out in §4.2.1 order, which for these labels is
/// 6, 8, 10, 256, 265, 266, 270, 271, -65537.
#[test]
fn token_is_deterministic_and_ordered() {
    let dev = device_key();
    let c = claims(NONCE);
    let a = sign(&c, &dev);
    assert_eq!(a, sign(&c, &dev));
    assert_eq!(&a[..2], &[0xd2, 0x84], "tag 18, array of 4");
    let labels: Vec<Value> = payload_entries(&a).into_iter().map(|(k, _)| k).collect();
    let want: Vec<Value> = [6, 8, 10, 256, 265, 266, 270, 271, -65537]
        .into_iter()
        .map(int)
        .collect();
    assert_eq!(labels, want);
}

/// coset parses our token independently and its Sig_structure is the one
/// our verifier builds: the signature checks out under either view.
#[test]
fn coset_agrees_on_structure_and_signature() {
    let dev = device_key();
    let token = sign(&claims(NONCE), &dev);
    let parsed = CoseSign1::from_tagged_slice(&token).unwrap();
    assert_eq!(
        parsed.protected.header.key_id,
        device_kid(&dev).as_bytes().to_vec()
    );
    assert!(parsed.unprotected.is_empty());
    parsed
        .verify_signature(&[], |sig, tbs| {
            let sig = keymint::ed25519::parse_signature(sig).unwrap();
            keymint::ed25519::verify(&dev.verifying_key(), tbs, &sig)
        })
        .unwrap();
    // coset re-serialises to the same bytes (nothing it would normalise).
    assert_eq!(parsed.to_tagged_vec().unwrap(), token);
    // And its untagged form is what follows the tag byte.
    let untagged = CoseSign1::from_tagged_slice(&token)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(untagged, token[1..]);
}

/// RFC 9864's fully-specified Ed25519 id (-19) is accepted on verify.
#[test]
fn alg_minus_19_is_accepted() {
    let dev = device_key();
    let real = sign(&claims(NONCE), &dev);
    let entries = payload_entries(&real);
    let payload = detcbor::encode(&Value::Map(entries)).unwrap();
    let protected = detcbor::encode(&header(-19, &device_kid(&dev))).unwrap();
    let token = build_raw(&protected, Value::Map(vec![]), &payload, &dev, Some(18));
    let v = verify_token(&token, dev.verifying_key().as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.alg, Alg::Ed25519);
    assert_eq!(v.claims, claims(NONCE));
}

/// Rotation: the device key changes; old tokens verify with the old
/// public key only, and the kid tells the keys apart.
#[test]
fn key_rotation() {
    let old = key(10);
    let new = key(11);
    assert_ne!(device_kid(&old), device_kid(&new));
    let c = claims(NONCE);
    let old_token = sign(&c, &old);
    let new_token = sign(&c, &new);

    let v = verify_token(&old_token, old.verifying_key().as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.device_kid, device_kid(&old));
    let err = verify_token(&old_token, new.verifying_key().as_bytes(), NONCE, NOW).unwrap_err();
    assert_eq!(err, EatError::KidMismatch);
    assert_eq!(err.code(), ErrorCode::Eperm);

    let v = verify_token(&new_token, new.verifying_key().as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.device_kid, device_kid(&new));
    let err = verify_token(&new_token, old.verifying_key().as_bytes(), NONCE, NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eperm);

    // A token claiming the new kid but signed with the old key is caught by
    // the signature check, not the kid check.
    let forged = sign_token(&c, &device_kid(&new), signer(&old)).unwrap();
    let err = verify_token(&forged, new.verifying_key().as_bytes(), NONCE, NOW).unwrap_err();
    assert_eq!(err, EatError::BadSignature);
    assert_eq!(err.code(), ErrorCode::Eperm);
}

#[test]
fn signer_errors_keep_their_code() {
    for code in [ErrorCode::Elocked, ErrorCode::Ekeyrevoked, ErrorCode::Eio] {
        let err = sign_token(&claims(NONCE), &device_kid(&device_key()), |_: &[u8]| {
            Err(SignerError(code))
        })
        .unwrap_err();
        assert_eq!(err, EatError::Signer(code));
        assert_eq!(err.code(), code);
    }
}

#[test]
fn time_window_edges_are_inclusive() {
    let dev = device_key();
    let pk = dev.verifying_key();
    let token = sign(&claims(NONCE), &dev);
    let p = VerifyPolicy::DEFAULT;
    assert!(verify_token(&token, pk.as_bytes(), NONCE, NOW + p.max_age_secs).is_ok());
    assert!(verify_token(&token, pk.as_bytes(), NONCE, NOW - p.max_future_skew_secs).is_ok());
    let strict = VerifyPolicy {
        max_age_secs: 0,
        max_future_skew_secs: 0,
    };
    assert!(verify_token_with(&token, pk.as_bytes(), NONCE, NOW, &strict).is_ok());
}

/// The example token printed in docs/identity/attestation.md is what the
/// code produces today (same inputs as `examples/example_token.rs`).
#[test]
fn doc_example_token_is_current() {
    let dev = key(1);
    let mut c = claims(b"example-nonce-01");
    c.custom
        .insert(-65538, CustomValue::Text("example".into()))
        .unwrap();
    let token = sign(&c, &dev);
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../docs/identity/attestation.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let compact: String = doc.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        compact.contains(&hex::encode(&token)),
        "the example hex in {} is stale; regenerate it with \
         `cargo run -p eat --example example_token`",
        doc_path.display()
    );
    assert!(compact.contains(&hex::encode(dev.verifying_key().as_bytes())));
}
