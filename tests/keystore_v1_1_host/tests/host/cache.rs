//! The record cache: every write of the keystore is seen by the very next
//! operation, and a record the cache no longer holds is read from disk
//! with every check.

use crate::common::{durable, expect_code, key, subject, T0};
use keymint::{Algorithm, Entropy};
use keystore::{DefaultQuota, KeySelector, KeyStore, RevokeScope};
use keystore_v1_1_host::AllowAll;
use nexus_core::{ErrorCode, ManualClock};
use statefs::{StateFs, StatePath};
use std::sync::Arc;

#[test]
fn test_reject_sign_after_revoke_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let (ks, a, k) = (&st.store, subject("app:com.a"), key("com.a", "s", "k"));
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    ks.revoke(&a, &AllowAll, &k, RevokeScope::Key).unwrap();
    expect_code(ks.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Ekeyrevoked);
}

#[test]
fn test_reject_sign_after_the_primary_version_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let (ks, a, k) = (&st.store, subject("app:com.a"), key("com.a", "s", "k"));
    ks.create(&a, &AllowAll, &k, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks.seal(&a, &AllowAll, &k, b"", b"x").unwrap();
    ks.revoke(&a, &AllowAll, &k, RevokeScope::Version(1))
        .unwrap();
    expect_code(
        ks.seal(&a, &AllowAll, &k, b"", b"x"),
        ErrorCode::Ekeyrevoked,
    );
    expect_code(
        ks.unseal(&a, &AllowAll, &k, b"", &sealed.sealed),
        ErrorCode::Ekeyrevoked,
    );
}

#[test]
fn rotate_then_sign_uses_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let (ks, a, k) = (&st.store, subject("app:com.a"), key("com.a", "s", "k"));
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let s1 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    ks.rotate(&a, &AllowAll, &k).unwrap();
    let s2 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    assert_eq!((s1.version, s2.version), (1, 2));
    assert_ne!(s1.kid, s2.kid);
    let v = ks.verify(&a, &k, KeySelector::Kid(s2.kid), b"m", &s2.signature);
    assert_eq!(v.unwrap(), 2);
}

#[test]
fn test_reject_a_retired_version_at_once_while_the_primary_signs() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let (ks, a, k) = (&st.store, subject("app:com.a"), key("com.a", "s", "k"));
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let s1 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    ks.rotate(&a, &AllowAll, &k).unwrap();
    ks.verify(&a, &k, KeySelector::Version(1), b"m", &s1.signature)
        .unwrap();
    ks.retire(&a, &AllowAll, &k, 2).unwrap();
    expect_code(
        ks.verify(&a, &k, KeySelector::Version(1), b"m", &s1.signature),
        ErrorCode::Ekeyrevoked,
    );
    let s2 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    assert_eq!(s2.version, 2);
    ks.verify(&a, &k, KeySelector::Version(2), b"m", &s2.signature)
        .unwrap();
}

#[test]
fn test_reject_sign_after_delete_with_enoent_and_a_new_key_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let (ks, a, k) = (&st.store, subject("app:com.a"), key("com.a", "s", "k"));
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let old = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    ks.delete(&a, &AllowAll, &k).unwrap();
    expect_code(ks.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Enoent);
    expect_code(ks.describe(&a, &k), ErrorCode::Enoent);
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let new = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    assert_ne!(old.kid, new.kid);
    expect_code(
        ks.verify(&a, &k, KeySelector::Kid(old.kid), b"m", &old.signature),
        ErrorCode::Enoent,
    );
}

#[test]
fn test_reject_import_over_a_cached_name_and_reuse_after_delete() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let (ks, a, k) = (&st.store, subject("app:com.a"), key("com.a", "s", "k"));
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    let seed = keymint::Ed25519Seed::from_slice(&[7; 32]).unwrap();
    expect_code(
        ks.import(&a, &AllowAll, &k, Algorithm::Ed25519, &seed),
        ErrorCode::Ealready,
    );
    ks.delete(&a, &AllowAll, &k).unwrap();
    let info = ks
        .import(&a, &AllowAll, &k, Algorithm::Ed25519, &seed)
        .unwrap()
        .value;
    let s = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    assert_eq!(Some(s.kid), info.versions[0].kid);
}

/// Past the bound the least recently used record goes, and the next use
/// reads it from disk with every check (here: a record damaged on disk).
#[test]
fn test_reject_a_damaged_record_once_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateFs::open(dir.path()).unwrap();
    let km = Arc::new(keymint::KeyMint::open(&state, Entropy::os()).unwrap());
    let ks = KeyStore::with_record_cache(
        state.clone(),
        km,
        Arc::new(ManualClock::new(T0)),
        Arc::new(DefaultQuota),
        2,
    );
    let a = subject("app:com.a");
    let names: Vec<_> = ["k0", "k1", "k2"]
        .iter()
        .map(|n| key("com.a", "s", n))
        .collect();
    for k in &names {
        ks.create(&a, &AllowAll, k, Algorithm::Ed25519).unwrap();
    }
    let p = StatePath::parse("state:/keystore/com.a/s/k0").unwrap();
    let file = state.host_path(&p).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(&file, &bytes).unwrap();
    // k0 was the least recently used of three in a cache of two.
    expect_code(ks.sign(&a, &AllowAll, &names[0], b"m"), ErrorCode::Eio);
    ks.sign(&a, &AllowAll, &names[2], b"m").unwrap();
}
