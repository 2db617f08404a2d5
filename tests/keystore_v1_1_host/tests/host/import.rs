//! Imported keys and prehashed signatures over the real keymint: an
//! imported seed signs as it did outside, is a key like any other
//! (rotate, export-wrapped) and is never readable again; a prehashed
//! signature is minisign's `ED` signature over BLAKE2b-512.

use crate::common::{durable, expect_code, key, subject, volatile};
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use keymint::{Algorithm, Ed25519Seed};
use keystore::{DefaultQuota, KeySelector, Prehash};
use keystore_v1_1_host::{DenyAll, Recording};
use nexus_core::{Capability, ErrorCode};
use std::sync::Arc;

const SEED: [u8; 32] = [0x5e; 32];

fn seed() -> Ed25519Seed {
    Ed25519Seed::from_slice(&SEED).unwrap()
}

fn files_under(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn imported_key_signs_as_before_and_its_seed_is_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "release", "imported");
    let rec = Recording::default();
    let out = ks
        .import(&a, &rec, &k, Algorithm::Ed25519, &seed())
        .unwrap();
    assert_eq!(
        rec.asked(),
        vec![(
            a.clone(),
            Capability::KeyImport,
            "com.a/release/imported".into()
        )]
    );
    let original = SigningKey::from_bytes(&SEED);
    let v1 = out.value.version(1).unwrap();
    assert_eq!(v1.public, Some(original.verifying_key().to_bytes()));
    assert_eq!(
        v1.kid,
        Some(keymint::kid::ed25519_kid(&original.verifying_key()))
    );
    // The keystore's signature is the original key's (Ed25519 is
    // deterministic).
    let sig = ks.sign(&a, &rec, &k, b"release 1.0").unwrap();
    assert_eq!(
        sig.signature,
        ed25519_dalek::Signer::sign(&original, b"release 1.0").to_bytes()
    );
    // Export gives the wrapped blob only; neither it, nor the key's
    // metadata, nor any file in the state directory holds the seed.
    let exported = ks.export_wrapped(&a, &rec, &k, None).unwrap();
    let has_seed = |b: &[u8]| b.windows(32).any(|w| w == SEED);
    assert!(!has_seed(exported.wrapped.as_bytes()));
    assert!(!format!("{:?}", ks.describe(&a, &k).unwrap()).contains(&format!("{SEED:?}")));
    for f in files_under(dir.path()) {
        assert!(!has_seed(&f), "a state file holds the seed");
    }
    // It rotates like any key: version 2 is fresh material.
    let rotated = ks.rotate(&a, &rec, &k).unwrap();
    assert_ne!(
        rotated.value.version(2).unwrap().public,
        v1.public,
        "rotation makes a new key"
    );
}

#[test]
fn test_reject_import_over_a_taken_name_other_algorithms_and_other_apps() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let rec = Recording::default();
    let k = key("com.a", "p", "n");
    ks.create(&a, &rec, &k, Algorithm::Ed25519).unwrap();
    expect_code(
        ks.import(&a, &rec, &k, Algorithm::Ed25519, &seed()),
        ErrorCode::Ealready,
    );
    let msg = expect_code(
        ks.import(
            &a,
            &rec,
            &key("com.a", "p", "data"),
            Algorithm::XChaCha20Poly1305,
            &seed(),
        ),
        ErrorCode::Einval,
    );
    assert!(msg.contains("only Ed25519"), "{msg}");
    // Another app's namespace: EPERM before the authorizer is asked.
    let before = rec.asked().len();
    expect_code(
        ks.import(
            &a,
            &rec,
            &key("com.b", "p", "x"),
            Algorithm::Ed25519,
            &seed(),
        ),
        ErrorCode::Eperm,
    );
    assert_eq!(rec.asked().len(), before);
    // The authorizer says no: EPERM, nothing stored.
    let k2 = key("com.a", "p", "denied");
    expect_code(
        ks.import(&a, &DenyAll, &k2, Algorithm::Ed25519, &seed()),
        ErrorCode::Eperm,
    );
    expect_code(ks.describe(&a, &k2), ErrorCode::Enoent);
}

#[test]
fn prehashed_signature_is_minisigns_ed_signature() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let rec = Recording::default();
    let k = key("com.a", "release", "k");
    ks.import(&a, &rec, &k, Algorithm::Ed25519, &seed())
        .unwrap();
    let file = vec![0xabu8; 3 << 20]; // larger than one message may be
    let digest = Blake2b512::digest(&file);
    let out = ks
        .sign_prehashed(&a, &rec, &k, Prehash::Blake2b512, &digest)
        .unwrap();
    // minisign's ED: Ed25519 over BLAKE2b-512(file).
    let vk = VerifyingKey::from_bytes(&SigningKey::from_bytes(&SEED).verifying_key().to_bytes())
        .unwrap();
    vk.verify_strict(&digest, &Signature::from_bytes(&out.signature))
        .unwrap();
    let v = ks
        .verify_prehashed(
            &a,
            &k,
            KeySelector::Version(1),
            Prehash::Blake2b512,
            &digest,
            &out.signature,
        )
        .unwrap();
    assert_eq!(v, 1);
    // Another file's digest does not verify.
    let other = Blake2b512::digest(b"another file");
    expect_code(
        ks.verify_prehashed(
            &a,
            &k,
            KeySelector::Version(1),
            Prehash::Blake2b512,
            &other,
            &out.signature,
        ),
        ErrorCode::Eperm,
    );
    // The file itself is over the plain bound; the digest is not a file.
    expect_code(ks.sign(&a, &rec, &k, &file), ErrorCode::Einval);
}

#[test]
fn test_reject_prehash_digest_of_the_wrong_length_with_einval() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let rec = Recording::default();
    let k = key("com.a", "release", "k");
    ks.create(&a, &rec, &k, Algorithm::Ed25519).unwrap();
    for len in [0usize, 32, 63, 65, 128] {
        let d = vec![1u8; len];
        let msg = expect_code(
            ks.sign_prehashed(&a, &rec, &k, Prehash::Blake2b512, &d),
            ErrorCode::Einval,
        );
        assert!(msg.contains("64-byte BLAKE2b-512 digest"), "{msg}");
        expect_code(
            ks.verify_prehashed(
                &a,
                &k,
                KeySelector::Version(1),
                Prehash::Blake2b512,
                &d,
                &[0u8; 64],
            ),
            ErrorCode::Einval,
        );
    }
}
