//! The key-format additions to the schema: `key.import` / `km.import`
//! carry the private key as a zeroizing secret byte string, and
//! `key.sign` / `key.verify` take an optional `prehash` word.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexus_core::{Coded, ErrorCode};
use nexus_proto::*;
use wire::{Args, Value};

fn import_args() -> Args {
    Args::new()
        .with("purpose", "ssh")
        .with("name", "laptop")
        .with("alg", "Ed25519")
        .with("private", Value::Bytes(vec![7; 32]))
}

fn err<O: Op>(args: Args) -> String {
    let e = decode_args::<O>(&args).err().expect("refused");
    assert_eq!(e.code(), ErrorCode::Einval);
    e.to_string()
}

#[test]
fn key_import_decodes_its_private_key_into_a_secret() {
    let a = decode_args::<KeyImport>(&import_args()).unwrap();
    assert_eq!(a.alg, Alg::Ed25519);
    assert_eq!(a.private.expose(), &[7; 32]);
    // Encoding writes the key as a byte string, in the documented order.
    let wire = encode_args::<KeyImport>(&a).unwrap();
    assert_eq!(
        wire.names().collect::<Vec<_>>(),
        ["purpose", "name", "alg", "private"]
    );
    assert_eq!(wire.get("private"), Some(&Value::Bytes(vec![7; 32])));
}

#[test]
fn test_reject_malformed_import_arguments() {
    assert_eq!(
        err::<KeyImport>(import_args().with("private", Value::Array(vec![1u64.into()]))),
        "argument `private` must be a byte string"
    );
    assert_eq!(
        err::<KeyImport>(import_args().with("private", "seed as text")),
        "argument `private` must be a byte string"
    );
    assert_eq!(
        err::<KeyImport>(import_args().with("alg", "RSA")),
        "argument `alg` is invalid"
    );
    assert_eq!(
        err::<KeyImport>(import_args().with("public", Value::Bytes(vec![1]))),
        "unexpected argument `public`"
    );
    let without = Args::new()
        .with("purpose", "ssh")
        .with("name", "laptop")
        .with("alg", "Ed25519");
    assert_eq!(err::<KeyImport>(without), "missing argument `private`");
}

#[test]
fn prehash_is_one_documented_word() {
    let base = Args::new()
        .with("purpose", "signing")
        .with("name", "k1")
        .with("msg", Value::Bytes(vec![0; 64]));
    let a = decode_args::<KeySign>(&base.clone().with("prehash", "BLAKE2b-512")).unwrap();
    assert_eq!(a.prehash, Some(Prehash::Blake2b512));
    assert_eq!(decode_args::<KeySign>(&base.clone()).unwrap().prehash, None);
    for bad in ["blake2b-512", "SHA-512", "Ed25519ph", ""] {
        assert_eq!(
            err::<KeySign>(base.clone().with("prehash", bad)),
            "argument `prehash` is invalid",
            "{bad:?}"
        );
    }
    assert_eq!(
        err::<KeySign>(base.clone().with("prehash", true)),
        "argument `prehash` must be a text string"
    );
    // Absent, it is left out of the request (older servers never see it).
    let wire = encode_args::<KeySign>(&decode_args::<KeySign>(&base).unwrap()).unwrap();
    assert_eq!(wire.names().collect::<Vec<_>>(), ["purpose", "name", "msg"]);
    let v = decode_args::<KeyVerify>(
        &Args::new()
            .with("purpose", "signing")
            .with("name", "k1")
            .with("msg", Value::Bytes(vec![0; 64]))
            .with("sig", Value::Bytes(vec![0; 64]))
            .with("prehash", "BLAKE2b-512"),
    )
    .unwrap();
    assert_eq!(v.prehash, Some(Prehash::Blake2b512));
}
