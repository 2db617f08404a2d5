//! The cache of unwrapped keys: never shared between identities, bounded,
//! emptied for a key by `forget`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keymint::{Algorithm, Entropy, KeyIdentity, KeyMint, KeyOps, KEY_CACHE_MAX};
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

/// Two namespaces holding keys of the same purpose and name: each signs
/// with its own key, and a blob of one presented under the other's
/// identity is refused even while the first is cached.
#[test]
fn test_reject_a_cached_key_under_another_namespace() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let (ia, ib) = (
        id("com.a", "k", 1, Algorithm::Ed25519),
        id("com.b", "k", 1, Algorithm::Ed25519),
    );
    let (ga, gb) = (km.generate(&ia).unwrap(), km.generate(&ib).unwrap());
    let sa = km.sign(&ia, &ga.wrapped, b"m").unwrap();
    let sb = km.sign(&ib, &gb.wrapped, b"m").unwrap();
    assert_eq!(km.cached_keys(), 2);
    keymint::ed25519::verify(&ga.public.unwrap(), b"m", &sa).unwrap();
    keymint::ed25519::verify(&gb.public.unwrap(), b"m", &sb).unwrap();
    assert!(keymint::ed25519::verify(&gb.public.unwrap(), b"m", &sa).is_err());
    let err = km.sign(&ib, &ga.wrapped, b"m").unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    let err = km.sign(&ia, &gb.wrapped, b"m").unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    // A data key of the same identity but another algorithm: refused.
    let err = km
        .seal(
            &id("com.a", "k", 1, Algorithm::XChaCha20Poly1305),
            &ga.wrapped,
            b"",
            b"x",
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn test_reject_a_tampered_blob_of_a_cached_key() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let i = id("com.a", "k", 1, Algorithm::XChaCha20Poly1305);
    let g = km.generate(&i).unwrap();
    let sealed = km.seal(&i, &g.wrapped, b"", b"x").unwrap();
    let mut bad = g.wrapped.as_bytes().to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let bad = keymint::WrappedKey::from_bytes(bad);
    let err = km.unseal(&i, &bad, b"", &sealed).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert_eq!(&*km.unseal(&i, &g.wrapped, b"", &sealed).unwrap(), b"x");
}

#[test]
fn the_cache_stays_within_its_bound_and_forget_empties_a_key() {
    let km = KeyMint::open_with_key_cache(&StateFs::volatile(), Entropy::os(), 3).unwrap();
    let keys: Vec<_> = (0..5)
        .map(|n| {
            let i = id("com.a", &format!("k{n}"), 1, Algorithm::Ed25519);
            let g = km.generate(&i).unwrap();
            (i, g)
        })
        .collect();
    for (i, g) in &keys {
        km.sign(i, &g.wrapped, b"m").unwrap();
        assert!(km.cached_keys() <= 3);
    }
    assert_eq!(km.cached_keys(), 3);
    // Evicted keys still work (unwrapped again).
    let (i0, g0) = &keys[0];
    let sig = km.sign(i0, &g0.wrapped, b"m").unwrap();
    keymint::ed25519::verify(g0.public.as_ref().unwrap(), b"m", &sig).unwrap();
    assert_eq!(km.cached_keys(), 3);
    // Two versions of one key, then forget that key: both go.
    let v2 = id("com.a", "k0", 2, Algorithm::Ed25519);
    let g2 = km.generate(&v2).unwrap();
    km.sign(&v2, &g2.wrapped, b"m").unwrap();
    let before = km.cached_keys();
    km.forget(&i0.app, &i0.purpose, &i0.name).unwrap();
    assert_eq!(km.cached_keys(), before - 2);
    assert_eq!(KEY_CACHE_MAX, 1024, "the documented bound");
}
