//! keymint behaviour: identity binding of wrapped keys, sealing, the device
//! secret's life cycle, and the deterministic mode (sessions: `sessions.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keymint::{Algorithm, Entropy, KeyIdentity, KeyMint, KeyOps, WrappedKey};
use nexus_core::{AppId, Coded, ErrorCode, Label};
use statefs::StateFs;

fn id(app: &str, name: &str, v: u32, alg: Algorithm) -> KeyIdentity {
    KeyIdentity {
        app: AppId::new(app).unwrap(),
        purpose: Label::new("test").unwrap(),
        name: Label::new(name).unwrap(),
        version: v,
        alg,
    }
}

fn open(dir: &std::path::Path) -> KeyMint {
    KeyMint::open(&StateFs::open(dir).unwrap(), Entropy::os()).unwrap()
}

#[test]
fn sign_verifies_with_returned_public_key() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let i = id("com.a", "k", 1, Algorithm::Ed25519);
    let g = km.generate(&i).unwrap();
    let sig = km.sign(&i, &g.wrapped, b"hello").unwrap();
    keymint::ed25519::verify(&g.public.unwrap(), b"hello", &sig).unwrap();
    assert!(km.is_volatile());
}

#[test]
fn test_reject_wrapped_blob_under_another_identity() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let i = id("com.a", "k", 1, Algorithm::Ed25519);
    let g = km.generate(&i).unwrap();
    for other in [
        id("com.b", "k", 1, Algorithm::Ed25519),
        id("com.a", "k2", 1, Algorithm::Ed25519),
        id("com.a", "k", 2, Algorithm::Ed25519),
    ] {
        let err = km.sign(&other, &g.wrapped, b"m").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Eio, "{other:?}");
    }
    // Same identity, other algorithm: refused before unwrapping.
    let err = km
        .seal(
            &id("com.a", "k", 1, Algorithm::XChaCha20Poly1305),
            &g.wrapped,
            b"",
            b"x",
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn test_reject_tampered_blob_and_sealed_data() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let i = id("com.a", "s", 1, Algorithm::XChaCha20Poly1305);
    let g = km.generate(&i).unwrap();
    assert!(g.public.is_none());
    let sealed = km.seal(&i, &g.wrapped, b"aad", b"secret data").unwrap();
    assert_eq!(
        &km.unseal(&i, &g.wrapped, b"aad", &sealed).unwrap()[..],
        b"secret data"
    );
    for pos in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[pos] ^= 1;
        let code = km.unseal(&i, &g.wrapped, b"aad", &bad).unwrap_err().code();
        assert!(
            matches!(code, ErrorCode::Eio | ErrorCode::Einval),
            "pos {pos}"
        );
    }
    assert_eq!(
        km.unseal(&i, &g.wrapped, b"aaD", &sealed)
            .unwrap_err()
            .code(),
        ErrorCode::Eio
    );
    let mut blob = g.wrapped.as_bytes().to_vec();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    let err = km
        .unseal(&i, &WrappedKey::from_bytes(blob), b"aad", &sealed)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert_eq!(
        km.unseal(&i, &g.wrapped, b"aad", &sealed[..10])
            .unwrap_err()
            .code(),
        ErrorCode::Einval
    );
}

#[test]
fn device_secret_survives_reopen_and_other_device_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let i = id("com.a", "k", 1, Algorithm::Ed25519);
    let (g, dev_id) = {
        let km = open(dir.path());
        assert!(km.created_device_secret());
        (km.generate(&i).unwrap(), km.device_id())
    };
    let km = open(dir.path());
    assert!(!km.created_device_secret());
    assert_eq!(km.device_id(), dev_id);
    let sig = km.sign(&i, &g.wrapped, b"m").unwrap();
    keymint::ed25519::verify(&g.public.unwrap(), b"m", &sig).unwrap();

    let other = tempfile::tempdir().unwrap();
    let km2 = open(other.path());
    assert_ne!(km2.device_id(), dev_id);
    assert_eq!(
        km2.sign(&i, &g.wrapped, b"m").unwrap_err().code(),
        ErrorCode::Eio
    );
}

#[test]
fn test_reject_corrupt_device_secret_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let state = StateFs::open(dir.path()).unwrap();
    let host = state
        .host_path(&keymint::device_secret_path().unwrap())
        .unwrap();
    let mut bytes = std::fs::read(&host).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&host, &bytes).unwrap();
    let err = KeyMint::open(&state, Entropy::os()).err().unwrap();
    assert_eq!(err.code(), ErrorCode::Eio);
    // Not silently replaced.
    assert_eq!(std::fs::read(&host).unwrap(), bytes);
}

#[test]
fn production_build_is_not_insecure() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    assert!(!km.is_insecure());
    assert_eq!(
        keymint::INSECURE_BUILD,
        cfg!(feature = "insecure-deterministic")
    );
}

#[cfg(feature = "insecure-deterministic")]
#[test]
fn deterministic_mode_is_reproducible_and_marked_insecure() {
    let run = |seed| {
        let km = KeyMint::open(&StateFs::volatile(), Entropy::insecure_seeded(seed)).unwrap();
        assert!(km.is_insecure());
        let i = id("com.a", "k", 1, Algorithm::Ed25519);
        let g = km.generate(&i).unwrap();
        (km.device_id(), g.public.unwrap().to_bytes(), g.wrapped)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0, run(8).0);
}

#[test]
fn state_keys_are_per_subject_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let km = open(dir.path());
    let a = km.state_key("system:keystored").unwrap();
    let b = km.state_key("system:identityd").unwrap();
    assert_ne!(*a, *b);
    assert_ne!(*a, *km.trust_key().unwrap());
    drop(km);
    // The same device secret gives the same keys after a restart.
    assert_eq!(*open(dir.path()).state_key("system:keystored").unwrap(), *a);
    // Another device's differ.
    let other = tempfile::tempdir().unwrap();
    assert_ne!(
        *open(other.path()).state_key("system:keystored").unwrap(),
        *a
    );
}
