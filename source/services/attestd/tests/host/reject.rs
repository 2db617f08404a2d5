//! Refusals, each with its exact code: tampered tokens, wrong and missing
//! nonces, weak keys, keys that cannot be attested, bad custom claims.

use crate::common::*;
use attestd::KeyRef;
use eat::CustomClaims;
use nexus_core::ErrorCode;

fn token(f: &Fixture) -> (Vec<u8>, attestd::DeviceKey) {
    f.create_key(ALPHA, "sign", "k");
    let a = f
        .svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap();
    (a.token, f.svc.device_key().unwrap())
}

#[test]
fn test_reject_flipped_byte_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let (t, device) = token(&f);
    let pk = device.public.as_bytes();
    eat::verify_token(&t, pk, NONCE, NOW).unwrap();

    // A byte of the signature.
    let mut sig = t.clone();
    let last = sig.len() - 1;
    sig[last] ^= 0x01;
    expect_code(eat::verify_token(&sig, pk, NONCE, NOW), ErrorCode::Eperm);

    // A byte of the signed payload (inside the nonce, so the token still
    // parses and only the signature can catch it).
    let at = t.windows(NONCE.len()).position(|w| w == NONCE).unwrap();
    let mut payload = t.clone();
    payload[at] ^= 0x01;
    expect_code(
        eat::verify_token(&payload, pk, NONCE, NOW),
        ErrorCode::Eperm,
    );

    // A byte of the kid in the protected header.
    let kid_at = t
        .windows(32)
        .position(|w| w == device.kid.as_bytes())
        .unwrap();
    let mut kid = t.clone();
    kid[kid_at] ^= 0x01;
    expect_code(eat::verify_token(&kid, pk, NONCE, NOW), ErrorCode::Eperm);
}

#[test]
fn test_reject_wrong_nonce_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let (t, device) = token(&f);
    expect_code(
        eat::verify_token(&t, device.public.as_bytes(), b"verifier-nonce-0002", NOW),
        ErrorCode::Eperm,
    );
}

#[test]
fn test_reject_missing_or_out_of_range_nonce_with_einval() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let (t, device) = token(&f);
    f.audit.clear().unwrap();
    let k = KeyRef::own(label("sign"), label("k"));
    for nonce in [&b""[..], &[7u8; 7][..], &[7u8; 65][..]] {
        expect_code(
            f.svc
                .attest(&subject(ALPHA), &k, nonce, CustomClaims::new()),
            ErrorCode::Einval,
        );
    }
    // Refused before anything is authorized or signed.
    assert!(f.audit_lines().is_empty());
    // Bounds are inclusive.
    for nonce in [&[7u8; 8][..], &[7u8; 64][..]] {
        f.svc
            .attest(&subject(ALPHA), &k, nonce, CustomClaims::new())
            .unwrap();
    }
    // A verifier without a nonce cannot verify.
    expect_code(
        eat::verify_token(&t, device.public.as_bytes(), b"", NOW),
        ErrorCode::Einval,
    );
}

#[test]
fn test_reject_weak_device_key_with_einval() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let (t, _) = token(&f);
    // Small-order points: the identity and the point of order 2.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order2 = [0u8; 32];
    order2[0] = 0xec;
    order2[1..31].fill(0xff);
    order2[31] = 0x7f;
    for weak in [identity, order2] {
        expect_code(eat::verify_token(&t, &weak, NONCE, NOW), ErrorCode::Einval);
    }
    // Another (valid) key: the kid does not match.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    expect_code(
        eat::verify_token(&t, other.as_bytes(), NONCE, NOW),
        ErrorCode::Eperm,
    );
}

#[test]
fn test_reject_unattestable_keys_with_exact_codes() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let alpha = subject(ALPHA);
    // No such key.
    expect_code(
        f.svc.attest(
            &alpha,
            &KeyRef::own(label("sign"), label("none")),
            NONCE,
            CustomClaims::new(),
        ),
        ErrorCode::Enoent,
    );
    // A sealing key has no public key to attest.
    let seal = keystore::KeyName::parse("com.example.alpha", "seal", "s").unwrap();
    f.store
        .create(
            &alpha,
            &*f.engine,
            &seal,
            keymint::Algorithm::XChaCha20Poly1305,
        )
        .unwrap();
    expect_code(
        f.svc.attest(
            &alpha,
            &KeyRef::own(label("seal"), label("s")),
            NONCE,
            CustomClaims::new(),
        ),
        ErrorCode::Einval,
    );
    // A revoked key.
    let k = f.create_key(ALPHA, "sign", "gone");
    f.store
        .revoke(&alpha, &*f.engine, &k, keystore::RevokeScope::Key)
        .unwrap();
    expect_code(
        f.svc.attest(
            &alpha,
            &KeyRef::own(label("sign"), label("gone")),
            NONCE,
            CustomClaims::new(),
        ),
        ErrorCode::Ekeyrevoked,
    );
    // A revoked primary version (older versions do not stand in for it).
    let k = f.create_key(ALPHA, "sign", "v");
    f.store.rotate(&alpha, &*f.engine, &k).unwrap();
    f.store
        .revoke(&alpha, &*f.engine, &k, keystore::RevokeScope::Version(2))
        .unwrap();
    expect_code(
        f.svc.attest(
            &alpha,
            &KeyRef::own(label("sign"), label("v")),
            NONCE,
            CustomClaims::new(),
        ),
        ErrorCode::Ekeyrevoked,
    );
}
