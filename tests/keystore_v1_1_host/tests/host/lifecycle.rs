//! Create, sign, verify, rotate, retire, revoke, and the bounds on inputs.

use crate::common::{expect_code, key, subject, volatile, T0};
use keymint::Algorithm;
use keystore::MAX_MESSAGE_LEN;
use keystore::{KeySelector, KeyState, KeyStore, RevokeScope, VersionState, MAX_AAD_LEN};
use keystore_v1_1_host::AllowAll;
use nexus_core::ErrorCode;
use std::sync::Arc;

#[test]
fn create_sign_verify() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k1");
    let info = ks
        .create(&a, &AllowAll, &k, Algorithm::Ed25519)
        .unwrap()
        .value;
    assert_eq!(info.alg, Algorithm::Ed25519);
    assert_eq!(
        (info.primary, info.min_version, info.state),
        (1, 1, KeyState::Active)
    );
    assert_eq!(info.created, T0);
    assert_eq!(info.rotated, None);
    let v1 = info.version(1).unwrap();
    assert_eq!(v1.state, VersionState::Active);

    let out = ks.sign(&a, &AllowAll, &k, b"hello").unwrap();
    assert_eq!(out.version, 1);
    assert_eq!(Some(out.kid), v1.kid);
    // The kid is the RFC 9679 thumbprint of the public key handed out.
    let pk = ks.public_key(&a, &k, None).unwrap();
    assert_eq!(keymint::kid::ed25519_kid(&pk.key), out.kid);
    assert_eq!(Some(pk.key.to_bytes()), v1.public);
    // Verifiable by kid, by version, and independently of the keystore.
    assert_eq!(
        ks.verify(&a, &k, KeySelector::Kid(out.kid), b"hello", &out.signature)
            .unwrap(),
        1
    );
    assert_eq!(
        ks.verify(&a, &k, KeySelector::Version(1), b"hello", &out.signature)
            .unwrap(),
        1
    );
    let sig = ed25519_dalek::Signature::from_bytes(&out.signature);
    keymint::ed25519::verify(&pk.key, b"hello", &sig).unwrap();
    // A different message does not verify.
    expect_code(
        ks.verify(&a, &k, KeySelector::Kid(out.kid), b"hellO", &out.signature),
        ErrorCode::Eperm,
    );
    println!("create -> sign -> verify ok, kid {}", out.kid);
}

#[test]
fn rotate_keeps_old_versions_until_retired() {
    let (st, clock) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let sk = key("com.a", "sign", "k");
    let dk = key("com.a", "seal", "k");
    ks.create(&a, &AllowAll, &sk, Algorithm::Ed25519).unwrap();
    ks.create(&a, &AllowAll, &dk, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sig1 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
    let sealed1 = ks.seal(&a, &AllowAll, &dk, b"ctx", b"old secret").unwrap();
    assert_eq!(sealed1.version, 1);
    let blob1 = ks
        .export_wrapped(&a, &AllowAll, &dk, Some(1))
        .unwrap()
        .wrapped;

    clock.advance(50);
    let info = ks.rotate(&a, &AllowAll, &sk).unwrap().value;
    assert_eq!((info.primary, info.rotated), (2, Some(T0 + 50)));
    assert_eq!(info.version(2).unwrap().created, T0 + 50);
    ks.rotate(&a, &AllowAll, &dk).unwrap();

    // The new version signs with a new kid; the old signature still verifies.
    let sig2 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
    assert_eq!(sig2.version, 2);
    assert_ne!(sig2.kid, sig1.kid);
    assert_eq!(
        ks.verify(&a, &sk, KeySelector::Kid(sig1.kid), b"m", &sig1.signature)
            .unwrap(),
        1
    );
    assert_eq!(
        ks.verify(&a, &sk, KeySelector::Kid(sig2.kid), b"m", &sig2.signature)
            .unwrap(),
        2
    );
    // Each signature verifies only under the version that made it.
    expect_code(
        ks.verify(&a, &sk, KeySelector::Kid(sig2.kid), b"m", &sig1.signature),
        ErrorCode::Eperm,
    );
    // Data sealed under v1 still unseals; new data is sealed under v2.
    let old = ks
        .unseal(&a, &AllowAll, &dk, b"ctx", &sealed1.sealed)
        .unwrap();
    assert_eq!(
        (old.plaintext.as_slice(), old.version),
        (&b"old secret"[..], 1)
    );
    let sealed2 = ks.seal(&a, &AllowAll, &dk, b"ctx", b"new secret").unwrap();
    assert_eq!(sealed2.version, 2);

    // Retire below 2: v1 stops verifying and unsealing with a clear error.
    let info = ks.retire(&a, &AllowAll, &sk, 2).unwrap();
    assert_eq!(info.min_version, 2);
    assert_eq!(info.version(1).unwrap().state, VersionState::Retired);
    let msg = expect_code(
        ks.verify(&a, &sk, KeySelector::Kid(sig1.kid), b"m", &sig1.signature),
        ErrorCode::Ekeyrevoked,
    );
    assert!(msg.contains("retired below min version 2"), "{msg}");
    ks.retire(&a, &AllowAll, &dk, 2).unwrap();
    let msg = expect_code(
        ks.unseal(&a, &AllowAll, &dk, b"ctx", &sealed1.sealed),
        ErrorCode::Ekeyrevoked,
    );
    assert!(
        msg.contains("version 1 is retired below min version 2"),
        "{msg}"
    );
    expect_code(
        ks.export_wrapped(&a, &AllowAll, &dk, Some(1)),
        ErrorCode::Ekeyrevoked,
    );
    // v2 is untouched.
    ks.verify(&a, &sk, KeySelector::Version(2), b"m", &sig2.signature)
        .unwrap();
    ks.unseal(&a, &AllowAll, &dk, b"ctx", &sealed2.sealed)
        .unwrap();
    // The retired material is gone from the record.
    let path = statefs::StatePath::parse("state:/keystore/com.a/seal/k").unwrap();
    let file = st.state.read(&path).unwrap().unwrap();
    assert!(
        !contains(&file, blob1.as_bytes()),
        "retired wrapped blob still stored"
    );
    println!("rotate ok: v1 kid {} -> v2 kid {}", sig1.kid, sig2.kid);
}

#[test]
fn test_reject_bad_retire_with_einval() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    ks.rotate(&a, &AllowAll, &k).unwrap();
    expect_code(ks.retire(&a, &AllowAll, &k, 3), ErrorCode::Einval);
    ks.retire(&a, &AllowAll, &k, 2).unwrap();
    ks.retire(&a, &AllowAll, &k, 2).unwrap();
    expect_code(ks.retire(&a, &AllowAll, &k, 1), ErrorCode::Einval);
    expect_code(ks.retire(&a, &AllowAll, &k, 0), ErrorCode::Einval);
}

#[test]
fn test_reject_revoked_version_and_key_with_ekeyrevoked() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let s1 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    ks.rotate(&a, &AllowAll, &k).unwrap();
    let s2 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();

    // Revoke one version (the primary): it stops signing and verifying.
    let info = ks
        .revoke(&a, &AllowAll, &k, RevokeScope::Version(2))
        .unwrap();
    assert_eq!(info.version(2).unwrap().state, VersionState::Revoked);
    let msg = expect_code(ks.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Ekeyrevoked);
    assert!(msg.contains("version 2 is revoked"), "{msg}");
    expect_code(
        ks.verify(&a, &k, KeySelector::Kid(s2.kid), b"m", &s2.signature),
        ErrorCode::Ekeyrevoked,
    );
    expect_code(
        ks.public_key(&a, &k, Some(KeySelector::Version(2))),
        ErrorCode::Ekeyrevoked,
    );
    expect_code(
        ks.export_wrapped(&a, &AllowAll, &k, Some(2)),
        ErrorCode::Ekeyrevoked,
    );
    // v1 is unaffected, and a rotation restores signing.
    ks.verify(&a, &k, KeySelector::Kid(s1.kid), b"m", &s1.signature)
        .unwrap();
    ks.rotate(&a, &AllowAll, &k).unwrap();
    assert_eq!(ks.sign(&a, &AllowAll, &k, b"m").unwrap().version, 3);

    // Revoke the whole key: every use fails, the name stays taken.
    let info = ks.revoke(&a, &AllowAll, &k, RevokeScope::Key).unwrap();
    assert_eq!(info.state, KeyState::Revoked);
    assert!(info
        .versions
        .iter()
        .all(|v| v.state == VersionState::Revoked));
    let msg = expect_code(ks.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Ekeyrevoked);
    assert!(msg.contains("com.a/sign/k is revoked"), "{msg}");
    expect_code(
        ks.verify(&a, &k, KeySelector::Kid(s1.kid), b"m", &s1.signature),
        ErrorCode::Ekeyrevoked,
    );
    expect_code(ks.rotate(&a, &AllowAll, &k), ErrorCode::Ekeyrevoked);
    expect_code(ks.retire(&a, &AllowAll, &k, 3), ErrorCode::Ekeyrevoked);
    expect_code(
        ks.export_wrapped(&a, &AllowAll, &k, None),
        ErrorCode::Ekeyrevoked,
    );
    expect_code(ks.public_key(&a, &k, None), ErrorCode::Ekeyrevoked);
    expect_code(
        ks.create(&a, &AllowAll, &k, Algorithm::Ed25519),
        ErrorCode::Ealready,
    );
    // Revoking again changes nothing.
    assert_eq!(
        ks.revoke(&a, &AllowAll, &k, RevokeScope::Key).unwrap(),
        info
    );

    // A sealing key's revoked version stops unsealing.
    let d = key("com.a", "seal", "d");
    ks.create(&a, &AllowAll, &d, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks.seal(&a, &AllowAll, &d, b"", b"x").unwrap();
    ks.revoke(&a, &AllowAll, &d, RevokeScope::Version(1))
        .unwrap();
    expect_code(
        ks.unseal(&a, &AllowAll, &d, b"", &sealed.sealed),
        ErrorCode::Ekeyrevoked,
    );
}

#[test]
fn test_reject_missing_key_version_and_kid_with_enoent() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    expect_code(ks.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Enoent);
    expect_code(ks.describe(&a, &k), ErrorCode::Enoent);
    expect_code(ks.rotate(&a, &AllowAll, &k), ErrorCode::Enoent);
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let s = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    expect_code(
        ks.verify(&a, &k, KeySelector::Version(2), b"m", &s.signature),
        ErrorCode::Enoent,
    );
    let other = keymint::kid::Kid::from_bytes([7; 32]);
    expect_code(
        ks.verify(&a, &k, KeySelector::Kid(other), b"m", &s.signature),
        ErrorCode::Enoent,
    );
    expect_code(
        ks.revoke(&a, &AllowAll, &k, RevokeScope::Version(9)),
        ErrorCode::Enoent,
    );
    expect_code(
        ks.create(&a, &AllowAll, &k, Algorithm::Ed25519),
        ErrorCode::Ealready,
    );
}

#[test]
fn test_reject_oversized_and_misused_inputs_with_einval() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let sk = key("com.a", "sign", "k");
    let dk = key("com.a", "seal", "k");
    ks.create(&a, &AllowAll, &sk, Algorithm::Ed25519).unwrap();
    ks.create(&a, &AllowAll, &dk, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let max = vec![0u8; MAX_MESSAGE_LEN];
    let over = vec![0u8; MAX_MESSAGE_LEN + 1];
    // Exactly at the bound is fine.
    let s = ks.sign(&a, &AllowAll, &sk, &max).unwrap();
    ks.verify(&a, &sk, KeySelector::Version(1), &max, &s.signature)
        .unwrap();
    let sealed = ks
        .seal(&a, &AllowAll, &dk, &[1; MAX_AAD_LEN], &max)
        .unwrap();
    ks.unseal(&a, &AllowAll, &dk, &[1; MAX_AAD_LEN], &sealed.sealed)
        .unwrap();
    // One byte over is not.
    expect_code(ks.sign(&a, &AllowAll, &sk, &over), ErrorCode::Einval);
    expect_code(
        ks.verify(&a, &sk, KeySelector::Version(1), &over, &s.signature),
        ErrorCode::Einval,
    );
    expect_code(ks.seal(&a, &AllowAll, &dk, b"", &over), ErrorCode::Einval);
    expect_code(
        ks.seal(&a, &AllowAll, &dk, &[1; MAX_AAD_LEN + 1], b"x"),
        ErrorCode::Einval,
    );
    expect_code(
        ks.unseal(&a, &AllowAll, &dk, &[1; MAX_AAD_LEN + 1], &sealed.sealed),
        ErrorCode::Einval,
    );
    let mut big = sealed.sealed.clone();
    big.push(0);
    expect_code(
        ks.unseal(&a, &AllowAll, &dk, &[1; MAX_AAD_LEN], &big),
        ErrorCode::Einval,
    );
    // Signatures of the wrong length.
    for len in [0, 63, 65] {
        expect_code(
            ks.verify(&a, &sk, KeySelector::Version(1), b"m", &vec![0; len]),
            ErrorCode::Einval,
        );
    }
    // Uses the algorithm does not allow.
    expect_code(ks.seal(&a, &AllowAll, &sk, b"", b"x"), ErrorCode::Einval);
    expect_code(ks.sign(&a, &AllowAll, &dk, b"x"), ErrorCode::Einval);
    expect_code(ks.public_key(&a, &dk, None), ErrorCode::Einval);
    expect_code(
        ks.verify(&a, &dk, KeySelector::Version(1), b"m", &s.signature),
        ErrorCode::Einval,
    );
    // Names outside the charset or over 64 bytes.
    for (app, p, n) in [
        ("com.a", "sign", "../x"),
        ("com.a", "", "k"),
        ("com a", "p", "k"),
    ] {
        expect_code(keystore::KeyName::parse(app, p, n), ErrorCode::Einval);
    }
    expect_code(
        keystore::KeyName::parse("com.a", "p", &"k".repeat(65)),
        ErrorCode::Einval,
    );
    keystore::KeyName::parse("com.a", "p", &"k".repeat(64)).unwrap();
}

#[test]
fn store_is_shared_by_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<KeyStore>();
    let (st, _) = volatile();
    let state = st.state.clone();
    let ks = Arc::new(st.store);
    let a = subject("app:com.a");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let ks = ks.clone();
            let a = a.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    let k = key("com.a", "sign", &format!("t{t}-{i}"));
                    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
                    ks.rotate(&a, &AllowAll, &k).unwrap();
                    let s = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
                    ks.verify(&a, &k, KeySelector::Kid(s.kid), b"m", &s.signature)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let names = ks.list(&a, &a.app_namespace()).unwrap();
    assert_eq!(names.len(), 20);
    let (usage, _) = ks.usage(&a).unwrap();
    assert_eq!(usage.keys, 20);
    // The usage figures match what is on disk (no lost updates).
    let on_disk: u64 = names
        .iter()
        .map(|k| {
            let p = statefs::StatePath::parse(&format!("state:/keystore/{k}")).unwrap();
            state.read(&p).unwrap().unwrap().len() as u64
        })
        .sum();
    assert_eq!(usage.bytes, on_disk);
    for k in &names {
        assert_eq!(ks.describe(&a, k).unwrap().primary, 2);
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
