//! Importing an Ed25519 private key: the wrapped result signs exactly as
//! the key did outside (RFC 8032 §7.1 TEST 1 and 2), is bound to its
//! identity like a generated key, and holds no plaintext seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keymint::{Algorithm, Ed25519Seed, Entropy, KeyIdentity, KeyMint, KeyOps};
use nexus_core::{AppId, Coded, ErrorCode, Label};
use statefs::StateFs;

fn id(name: &str, v: u32, alg: Algorithm) -> KeyIdentity {
    KeyIdentity {
        app: AppId::new("com.a").unwrap(),
        purpose: Label::new("imported").unwrap(),
        name: Label::new(name).unwrap(),
        version: v,
        alg,
    }
}

fn seed(hex_text: &str) -> Ed25519Seed {
    Ed25519Seed::from_slice(&hex::decode(hex_text).unwrap()).unwrap()
}

const SK1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PK1: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SIG1: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
const SK2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const SIG2: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

#[test]
fn imported_key_signs_the_rfc8032_vectors() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let i = id("k", 1, Algorithm::Ed25519);
    let g = km.import(&i, &seed(SK1)).unwrap();
    assert_eq!(hex::encode(g.public.unwrap().as_bytes()), PK1);
    let sig = km.sign(&i, &g.wrapped, b"").unwrap();
    assert_eq!(hex::encode(sig.to_bytes()), SIG1);
    let g2 = km.import(&i, &seed(SK2)).unwrap();
    let sig = km.sign(&i, &g2.wrapped, &[0x72]).unwrap();
    assert_eq!(hex::encode(sig.to_bytes()), SIG2);
}

#[test]
fn imported_blob_holds_no_seed_and_opens_only_under_its_identity() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let i = id("k", 1, Algorithm::Ed25519);
    let raw = hex::decode(SK1).unwrap();
    let g = km.import(&i, &seed(SK1)).unwrap();
    let blob = g.wrapped.as_bytes();
    assert!(
        !blob.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the seed is in the blob"
    );
    for other in [
        id("k", 2, Algorithm::Ed25519),
        id("k2", 1, Algorithm::Ed25519),
    ] {
        assert_eq!(
            km.sign(&other, &g.wrapped, b"m").unwrap_err().code(),
            ErrorCode::Eio
        );
    }
}

#[test]
fn test_reject_import_under_a_sealing_identity() {
    let km = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let e = km
        .import(&id("s", 1, Algorithm::XChaCha20Poly1305), &seed(SK1))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
}
