//! Sealing, tamper detection, and the rule that no API returns key
//! material: exported blobs are wrapped and bound to their identity and
//! to this device.

use crate::common::{durable, expect_code, key, subject, volatile, T0};
use crate::lifecycle::contains;
use keymint::{Algorithm, Entropy, KeyIdentity, KeyOps};
use keystore::{sealfmt, DefaultQuota, KeySelector};
use keystore_v1_1_host::{AllowAll, Stack};
use nexus_core::{AppId, ErrorCode, Label, ManualClock};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[test]
fn seal_unseal_round_trip() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "seal", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::XChaCha20Poly1305)
        .unwrap();
    for pt in [&b""[..], b"x", &[0xa5; 4096]] {
        let out = ks.seal(&a, &AllowAll, &k, b"file:notes", pt).unwrap();
        assert_eq!(&out.sealed[..8], b"nxs1\0\0\0\x01");
        assert_eq!(out.sealed.len(), 8 + keymint::SEAL_OVERHEAD + pt.len());
        if pt.len() >= 16 {
            assert!(!contains(&out.sealed, &pt[..16]), "plaintext visible");
        }
        let back = ks
            .unseal(&a, &AllowAll, &k, b"file:notes", &out.sealed)
            .unwrap();
        assert_eq!(back.plaintext.as_slice(), pt);
        assert_eq!(back.version, 1);
    }
}

#[test]
fn test_reject_tampered_ciphertext_aad_and_header() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "seal", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks
        .seal(&a, &AllowAll, &k, b"ctx", b"attack at dawn")
        .unwrap()
        .sealed;
    ks.rotate(&a, &AllowAll, &k).unwrap();
    // The untouched object opens (so the failures below are the tampering).
    ks.unseal(&a, &AllowAll, &k, b"ctx", &sealed).unwrap();

    // Any flipped byte after the header (nonce, ciphertext, tag): opaque EIO.
    let hdr = sealfmt::HEADER_LEN;
    for i in hdr + 2..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        expect_code(ks.unseal(&a, &AllowAll, &k, b"ctx", &bad), ErrorCode::Eio);
    }
    // Other AAD.
    expect_code(
        ks.unseal(&a, &AllowAll, &k, b"ctX", &sealed),
        ErrorCode::Eio,
    );
    expect_code(ks.unseal(&a, &AllowAll, &k, b"", &sealed), ErrorCode::Eio);
    // The version in the header changed to the other, existing version.
    let mut v2 = sealed.clone();
    v2[4..8].copy_from_slice(&2u32.to_be_bytes());
    let m1 = expect_code(ks.unseal(&a, &AllowAll, &k, b"ctx", &v2), ErrorCode::Eio);
    // ... or to a version that does not exist: the same opaque answer.
    let mut v9 = sealed.clone();
    v9[4..8].copy_from_slice(&9u32.to_be_bytes());
    let m2 = expect_code(ks.unseal(&a, &AllowAll, &k, b"ctx", &v9), ErrorCode::Eio);
    assert_eq!(m1, m2);
    // Unknown header format, wrong magic, version 0, truncation: EINVAL.
    for (i, b) in [(3usize, b'2'), (0, b'N'), (7, 0)] {
        let mut bad = sealed.clone();
        if i == 7 {
            bad[4..8].copy_from_slice(&[0; 4]);
        } else {
            bad[i] = b;
        }
        expect_code(
            ks.unseal(&a, &AllowAll, &k, b"ctx", &bad),
            ErrorCode::Einval,
        );
    }
    expect_code(
        ks.unseal(&a, &AllowAll, &k, b"ctx", &sealed[..hdr + 10]),
        ErrorCode::Einval,
    );
    // Sealed under another key of the same app.
    let other = key("com.a", "seal", "other");
    ks.create(&a, &AllowAll, &other, Algorithm::XChaCha20Poly1305)
        .unwrap();
    expect_code(
        ks.unseal(&a, &AllowAll, &other, b"ctx", &sealed),
        ErrorCode::Eio,
    );
}

fn ident(app: &str, name: &str, version: u32, alg: Algorithm) -> KeyIdentity {
    KeyIdentity {
        app: AppId::new(app).unwrap(),
        purpose: Label::new("sign").unwrap(),
        name: Label::new(name).unwrap(),
        version,
        alg,
    }
}

/// The seeded generator's output blocks, recomputed from its documented
/// construction: SHA-256("nexus-keymint/insecure-drbg" | seed | counter).
fn drbg_blocks(seed: u64, n: u64) -> Vec<[u8; 32]> {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_be_bytes());
    (0..n)
        .map(|i| {
            let mut h = Sha256::new();
            h.update(b"nexus-keymint/insecure-drbg");
            h.update(s);
            h.update(i.to_be_bytes());
            h.finalize().into()
        })
        .collect()
}

#[test]
fn no_api_returns_private_key_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x5eed;
    let st = Stack::open(
        dir.path(),
        Entropy::insecure_seeded(seed),
        Arc::new(ManualClock::new(T0)),
        Arc::new(DefaultQuota),
    )
    .unwrap();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    let info = ks
        .create(&a, &AllowAll, &k, Algorithm::Ed25519)
        .unwrap()
        .value;
    let public = info.version(1).unwrap().public.unwrap();

    // Recompute the private seed: the generator block whose Ed25519 public
    // key is the key's public key. Finding it proves the check below is
    // looking for the real material.
    let seed_bytes = drbg_blocks(seed, 16)
        .into_iter()
        .find(|b| {
            ed25519_dalek::SigningKey::from_bytes(b)
                .verifying_key()
                .to_bytes()
                == public
        })
        .expect("recomputed the key's seed");

    let exp = ks.export_wrapped(&a, &AllowAll, &k, None).unwrap();
    assert_eq!(exp.identity, ident("com.a", "k", 1, Algorithm::Ed25519));
    assert_eq!(exp.public, Some(public));
    assert_eq!(exp.device_id, st.keymint.device_id());
    // Neither the seed nor any 8-byte run of it is in the blob, the
    // record file, or any Debug output.
    let record = std::fs::read(dir.path().join("keystore/com.a/sign/k")).unwrap();
    let debug = format!("{exp:?}{info:?}{:?}", ks.describe(&a, &k).unwrap());
    let seed_hex = seed_bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    for w in seed_bytes.windows(8) {
        assert!(
            !contains(exp.wrapped.as_bytes(), w),
            "seed bytes in exported blob"
        );
        assert!(!contains(&record, w), "seed bytes in key record");
    }
    assert!(!debug.contains(&seed_hex[..16]));
    // The blob opens (signs) only through keymint, under its identity.
    let sig = st.keymint.sign(&exp.identity, &exp.wrapped, b"m").unwrap();
    keymint::ed25519::verify(
        &ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap(),
        b"m",
        &sig,
    )
    .unwrap();
    println!(
        "export: {} byte wrapped blob, seed not present",
        exp.wrapped.as_bytes().len()
    );
}

#[test]
fn test_reject_wrapped_blob_under_other_identity_or_device() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    ks.rotate(&a, &AllowAll, &k).unwrap();
    let exp = ks.export_wrapped(&a, &AllowAll, &k, Some(1)).unwrap();
    let km = &st.keymint;
    km.sign(&exp.identity, &exp.wrapped, b"m").unwrap();
    for other in [
        ident("com.b", "k", 1, Algorithm::Ed25519),
        ident("com.a", "k2", 1, Algorithm::Ed25519),
        ident("com.a", "k", 2, Algorithm::Ed25519),
    ] {
        expect_code(km.sign(&other, &exp.wrapped, b"m"), ErrorCode::Eio);
    }
    // Another purpose is another identity too.
    let mut p = exp.identity.clone();
    p.purpose = Label::new("attest").unwrap();
    expect_code(km.sign(&p, &exp.wrapped, b"m"), ErrorCode::Eio);
    // Another device (another master secret) cannot open it at all.
    let dir2 = tempfile::tempdir().unwrap();
    let st2 = durable(dir2.path(), Arc::new(DefaultQuota));
    assert_ne!(st2.keymint.device_id(), exp.device_id);
    expect_code(
        st2.keymint.sign(&exp.identity, &exp.wrapped, b"m"),
        ErrorCode::Eio,
    );
    // The version-2 signature made through the store is not the v1 key's.
    let s2 = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    expect_code(
        ks.verify(&a, &k, KeySelector::Version(1), b"m", &s2.signature),
        ErrorCode::Eperm,
    );
}
