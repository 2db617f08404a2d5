//! `km.import` over the real binary: keystored's seed comes back only as
//! a wrapped key that signs like the original; anyone else is refused,
//! and a private key of the wrong length is a bad argument.

use crate::common::{Keymintd, Mode, IDENTITYD, KEYSTORED};
use keymint::{Algorithm, Ed25519Seed, KeyIdentity, KeyOps};
use keymint_client::RemoteKeyMint;
use nexus_core::{AppId, Coded, ErrorCode, Label};
use wire::{Args, Value};

// RFC 8032 §7.1 TEST 1.
const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
const PUBLIC: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

fn ident() -> KeyIdentity {
    KeyIdentity {
        app: AppId::new("com.example.alpha").unwrap(),
        purpose: Label::new("imported").unwrap(),
        name: Label::new("rfc8032").unwrap(),
        version: 1,
        alg: Algorithm::Ed25519,
    }
}

fn raw_args(private: Vec<u8>) -> Args {
    let ident = Value::Map(vec![
        ("app".into(), "com.example.alpha".into()),
        ("purpose".into(), "imported".into()),
        ("name".into(), "rfc8032".into()),
        ("version".into(), 1u64.into()),
        ("alg".into(), "Ed25519".into()),
    ]);
    Args::new()
        .with("ident", ident)
        .with("private", Value::Bytes(private))
}

#[test]
fn keystored_imports_a_seed_that_then_signs_like_the_original() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let km = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    let g = km
        .import(&ident(), &Ed25519Seed::from_slice(&SEED).unwrap())
        .unwrap();
    assert_eq!(g.public.unwrap().to_bytes(), PUBLIC);
    assert!(!g.wrapped.as_bytes().windows(32).any(|w| w == SEED));
    let sig = km.sign(&ident(), &g.wrapped, b"").unwrap();
    // RFC 8032 §7.1 TEST 1's signature of the empty message.
    assert_eq!(
        sig.to_bytes()[..8],
        [0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72],
        "the imported key signs as the original"
    );
}

#[test]
fn test_reject_import_from_identityd_and_of_a_malformed_key() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let mut identityd = k.connect(IDENTITYD);
    let e = identityd
        .call("km.import", &raw_args(SEED.to_vec()))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    let mut keystored = k.connect(KEYSTORED);
    for bad in [vec![], vec![1; 31], vec![1; 33], vec![1; 64]] {
        let e = keystored
            .call("km.import", &raw_args(bad.clone()))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Einval, "{} bytes", bad.len());
        assert_eq!(e.to_string(), "EINVAL: argument `private` is invalid");
    }
    // A sealing identity cannot hold an imported Ed25519 key.
    let mut args = raw_args(SEED.to_vec());
    if let Some(Value::Map(m)) = args.get("ident").cloned() {
        let m = m
            .into_iter()
            .map(|(k, v)| {
                if k == Value::from("alg") {
                    (k, Value::from("XChaCha20-Poly1305"))
                } else {
                    (k, v)
                }
            })
            .collect();
        args = args.with("ident", Value::Map(m));
    }
    let e = keystored.call("km.import", &args).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
}
