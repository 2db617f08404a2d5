//! `key.import` and prehashed `key.sign` / `key.verify` over the real
//! sockets: the imported seed signs as it did outside and never comes
//! back (not in a reply, not in the state directory); the capability is
//! asked and audited; malformed requests are refused with their codes.

use crate::common::{args, bytes, field, text, Stack, ALPHA, BETA};
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signer, SigningKey};
use nexus_core::{Coded, ErrorCode};
use wire::{Args, Value};

const SEED: [u8; 32] = [0x42; 32];

fn import_args(name: &str, private: &[u8]) -> Args {
    args(&[
        ("purpose", text("release")),
        ("name", text(name)),
        ("alg", text("Ed25519")),
        ("private", bytes(private)),
    ])
}

fn sign_args(name: &str, msg: &[u8], prehash: bool) -> Args {
    let a = args(&[
        ("purpose", text("release")),
        ("name", text(name)),
        ("msg", bytes(msg)),
    ]);
    if prehash {
        a.with("prehash", "BLAKE2b-512")
    } else {
        a
    }
}

fn files_under(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.is_file() {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn imported_key_signs_as_before_prehashed_too_and_is_never_returned() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    let original = SigningKey::from_bytes(&SEED);
    let r = alpha.call("key.import", &import_args("k", &SEED)).unwrap();
    assert_eq!(field(&r, "version"), Value::from(1u64));
    assert_eq!(
        field(&r, "public_key"),
        bytes(original.verifying_key().as_bytes())
    );
    // Plain: the original key's signature.
    let sig = alpha
        .call("key.sign", &sign_args("k", b"hello", false))
        .unwrap();
    assert_eq!(
        field(&sig, "sig"),
        bytes(&original.sign(b"hello").to_bytes())
    );
    // Prehashed: Ed25519 over BLAKE2b-512 of a message larger than a frame.
    let big = vec![7u8; 2 << 20];
    let digest = Blake2b512::digest(&big);
    let sig = alpha
        .call("key.sign", &sign_args("k", &digest, true))
        .unwrap();
    let sig_bytes = match field(&sig, "sig") {
        Value::Bytes(b) => b,
        other => panic!("sig is {other:?}"),
    };
    assert_eq!(sig_bytes, original.sign(&digest).to_bytes());
    let mut verify = |msg: &[u8], prehash: bool| {
        let a = sign_args("k", msg, prehash).with("sig", Value::Bytes(sig_bytes.clone()));
        alpha.call("key.verify", &a)
    };
    assert_eq!(
        field(&verify(&digest, true).unwrap(), "valid"),
        Value::Bool(true)
    );
    let mut other = digest;
    other[0] ^= 1;
    assert_eq!(verify(&other, true).unwrap_err().code(), ErrorCode::Eperm);
    // Export gives the device-bound blob only.
    let exported = alpha
        .call(
            "key.export",
            &args(&[("purpose", text("release")), ("name", text("k"))]),
        )
        .unwrap();
    let Value::Bytes(blob) = field(&exported, "blob") else {
        panic!("blob is not bytes")
    };
    let has_seed = |b: &[u8]| b.windows(32).any(|w| w == SEED);
    assert!(!has_seed(&blob));
    for f in files_under(&s.state()) {
        assert!(!has_seed(&f), "a state file holds the seed");
    }
    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.alpha","capability":"identity.key.import","target":"com.example.alpha/release/k","decision":"allow""#),
        "{audit}"
    );
}

#[test]
fn test_reject_import_without_the_capability_twice_or_malformed() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut beta = s.keystored.connect(BETA);
    let e = beta
        .call("key.import", &import_args("k", &SEED))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert!(s.audit().contains(r#""subject":"app:com.example.beta","capability":"identity.key.import","target":"com.example.beta/release/k","decision":"deny""#));

    let mut alpha = s.keystored.connect(ALPHA);
    alpha.call("key.import", &import_args("k", &SEED)).unwrap();
    let e = alpha
        .call("key.import", &import_args("k", &[1; 32]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ealready);
    for bad in [&[1u8; 31][..], &[1; 33], &[]] {
        let e = alpha
            .call("key.import", &import_args("short", bad))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Einval);
        assert_eq!(e.to_string(), "EINVAL: argument `private` is invalid");
    }
    let sealing = args(&[
        ("purpose", text("release")),
        ("name", text("data")),
        ("alg", text("XChaCha20-Poly1305")),
        ("private", bytes(&SEED)),
    ]);
    let e = alpha.call("key.import", &sealing).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    // A prehashed message is its 64-byte digest, nothing else.
    let e = alpha
        .call("key.sign", &sign_args("k", &[0; 63], true))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    let e = alpha
        .call(
            "key.sign",
            &sign_args("k", &[0; 64], false).with("prehash", "SHA-512"),
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "EINVAL: argument `prehash` is invalid");
}
