//! The argument decoder gives exactly the EINVAL messages of wire.md §5,
//! for every kind of malformed argument, and the reply decoder refuses
//! replies of the wrong shape by field name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexus_core::{Coded, ErrorCode};
use nexus_proto::*;
use wire::{ArgError, Args, Value};

fn msg<O: Op>(args: Args) -> String {
    match decode_args::<O>(&args) {
        Ok(_) => panic!("{} accepted malformed arguments", O::NAME),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::Einval);
            e.to_string()
        }
    }
}

fn sign_args() -> Args {
    Args::new()
        .with("purpose", "signing")
        .with("name", "k1")
        .with("msg", Value::Bytes(vec![1, 2, 3]))
}

fn ident() -> Args {
    Args::new()
        .with("app", "com.example.alpha")
        .with("purpose", "signing")
        .with("name", "k1")
        .with("version", 3u64)
        .with("alg", "Ed25519")
}

fn with_ident(edit: impl FnOnce(Args) -> Args) -> Args {
    Args::new().with("ident", edit(ident()).into_value())
}

#[test]
fn well_formed_arguments_decode_to_their_types() {
    let a = decode_args::<KeySign>(&sign_args()).unwrap();
    assert_eq!(a.purpose.as_str(), "signing");
    assert_eq!(a.msg.as_slice(), &[1, 2, 3]);
    let g = decode_args::<KmGenerate>(&with_ident(|a| a)).unwrap();
    assert_eq!(g.ident.version.get(), 3);
    assert_eq!(g.ident.alg, Alg::Ed25519);
    let v = decode_args::<KeyVerify>(
        &sign_args()
            .with("sig", Value::Bytes(vec![9]))
            .with("version", 2u64),
    )
    .unwrap();
    assert_eq!((v.version, v.app), (Some(2), None));
    let t = decode_args::<TrustAdd>(
        &Args::new()
            .with("public_key", "k")
            .with("label", "acme")
            .with("scopes", Value::Array(vec!["packages".into()])),
    )
    .unwrap();
    assert_eq!(t.scopes, Some(TextList(vec!["packages".into()])));
    let p = decode_args::<SessionLogin>(
        &Args::new()
            .with("user", "alice")
            .with("password", "hunter2"),
    )
    .unwrap();
    assert_eq!(p.password.expose(), "hunter2");
}

#[test]
fn test_reject_missing_argument() {
    let a = Args::new().with("purpose", "signing").with("name", "k1");
    assert_eq!(msg::<KeySign>(a), "missing argument `msg`");
    assert_eq!(msg::<SessionLock>(Args::new()), "missing argument `sid`");
    assert_eq!(msg::<KmGenerate>(Args::new()), "missing argument `ident`");
}

#[test]
fn test_reject_wrong_types_with_the_documented_words() {
    let cases: Vec<(String, &str)> = vec![
        (
            msg::<KeySign>(sign_args().with("purpose", 7u64)),
            "argument `purpose` must be a text string",
        ),
        (
            msg::<KeySign>(sign_args().with("msg", "text")),
            "argument `msg` must be a byte string",
        ),
        (
            // An array of small integers is not a byte string.
            msg::<KeySign>(sign_args().with("msg", Value::Array(vec![1u64.into()]))),
            "argument `msg` must be a byte string",
        ),
        (
            msg::<KeyRetire>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("min_version", "2"),
            ),
            "argument `min_version` must be an unsigned integer",
        ),
        (
            msg::<BundleInstall>(Args::new().with("path", "/x").with("force", 1u64)),
            "argument `force` must be a boolean",
        ),
        (
            msg::<TrustAdd>(Args::new().with("scopes", "packages")),
            "argument `scopes` must be an array of text strings",
        ),
        (
            msg::<TrustAdd>(Args::new().with("scopes", Value::Array(vec![1u64.into()]))),
            "argument `scopes` must be an array of text strings",
        ),
        (
            msg::<KmGenerate>(Args::new().with("ident", "x")),
            "argument `ident` must be a map",
        ),
        (
            msg::<Attest>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("nonce", Value::Bytes(vec![0; 8]))
                    .with("claims", Value::Array(vec![])),
            ),
            "argument `claims` must be a map",
        ),
        (
            // `null` is no argument's type: an optional argument is left out.
            msg::<KeyRevoke>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("version", Value::Null),
            ),
            "argument `version` must be an unsigned integer",
        ),
        (
            msg::<SessionLogin>(
                Args::new()
                    .with("user", "alice")
                    .with("password", Value::Bytes(b"pw".to_vec())),
            ),
            "argument `password` must be a text string",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn test_reject_invalid_values_without_echoing_them() {
    let cases: Vec<(String, &str)> = vec![
        (
            msg::<KeySign>(sign_args().with("purpose", "../etc/passwd")),
            "argument `purpose` is invalid",
        ),
        (
            msg::<KeySign>(sign_args().with("name", "")),
            "argument `name` is invalid",
        ),
        (
            msg::<KeyRevoke>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("version", u64::from(u32::MAX) + 1),
            ),
            "argument `version` is invalid",
        ),
        (
            msg::<KeyRetire>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("min_version", -1i64),
            ),
            "argument `min_version` is invalid",
        ),
        (
            msg::<KeyCreate>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("alg", "RSA"),
            ),
            "argument `alg` is invalid",
        ),
        (
            msg::<KeyCreate>(
                Args::new()
                    .with("purpose", "p")
                    .with("name", "n")
                    .with("alg", "ed25519"),
            ),
            "argument `alg` is invalid",
        ),
        (
            msg::<TrustShow>(Args::new().with("kid", "abc")),
            "argument `kid` is invalid",
        ),
        (
            msg::<VaultGet>(Args::new().with("sid", "secret-ish").with("name", "n")),
            "argument `sid` is invalid",
        ),
        (
            msg::<SessionLogin>(Args::new().with("user", "a/b").with("password", "pw")),
            "argument `user` is invalid",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
        assert!(!got.contains("etc") && !got.contains("secret"));
    }
}

#[test]
fn test_reject_unexpected_argument_before_anything_else() {
    assert_eq!(
        msg::<KeySign>(sign_args().with("app_id", "com.example.beta")),
        "unexpected argument `app_id`"
    );
    // Even when another argument is missing or of the wrong type.
    assert_eq!(
        msg::<KeySign>(Args::new().with("purpose", 1u64).with("subject", "app:x")),
        "unexpected argument `subject`"
    );
    assert_eq!(
        msg::<Status>(Args::new().with("x", 1u64)),
        "unexpected argument `x`"
    );
}

#[test]
fn test_reject_malformed_nested_maps_by_path() {
    let cases: Vec<(Args, &str)> = vec![
        (
            with_ident(|a| a.with("version", 0u64)),
            "argument `ident.version` is invalid",
        ),
        (
            with_ident(|a| a.with("version", u64::from(u32::MAX) + 1)),
            "argument `ident.version` is invalid",
        ),
        (
            with_ident(|a| a.with("version", "1")),
            "argument `ident.version` must be an unsigned integer",
        ),
        (
            with_ident(|a| a.with("alg", "RSA")),
            "argument `ident.alg` is invalid",
        ),
        (
            with_ident(|a| a.with("app", "../etc")),
            "argument `ident.app` is invalid",
        ),
        (
            with_ident(|a| a.with("name", "")),
            "argument `ident.name` is invalid",
        ),
        (
            with_ident(|a| a.with("extra", 1u64)),
            "unexpected argument `ident.extra`",
        ),
        (
            Args::new().with("ident", Value::Map(vec![(1u64.into(), 1u64.into())])),
            "argument `ident` is invalid",
        ),
        (
            Args::new().with(
                "ident",
                Value::Map(vec![("app".into(), "a".into()), ("app".into(), "b".into())]),
            ),
            "argument `ident` is invalid",
        ),
        (
            Args::new().with("ident", Args::new().with("app", "a").into_value()),
            "missing argument `ident.purpose`",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(msg::<KmGenerate>(args), want);
    }
    // key.sign's `show` is a nested map too.
    let show = |v: Value| sign_args().with("show", v);
    let key_ref = || Args::new().with("purpose", "signing").with("name", "k1");
    let ok = decode_args::<KeySign>(&show(
        key_ref().with("app", "com.example.alpha").into_value(),
    ))
    .unwrap()
    .show
    .unwrap();
    assert_eq!(ok.app.unwrap().as_str(), "com.example.alpha");
    let cases: Vec<(Args, &str)> = vec![
        (show("signing/k1".into()), "argument `show` must be a map"),
        (
            show(Args::new().with("purpose", "signing").into_value()),
            "missing argument `show.name`",
        ),
        (
            show(key_ref().with("app", "../etc").into_value()),
            "argument `show.app` is invalid",
        ),
        (
            show(key_ref().with("version", 1u64).into_value()),
            "unexpected argument `show.version`",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(msg::<KeySign>(args), want);
    }
}

#[test]
fn test_reject_malformed_custom_claims() {
    let attest = |claims: Value| {
        Args::new()
            .with("purpose", "p")
            .with("name", "n")
            .with("nonce", Value::Bytes(vec![0; 8]))
            .with("claims", claims)
    };
    let bad = [
        Value::Map(vec![("label".into(), "x".into())]),
        Value::Map(vec![(Value::from(-65537i64), "x".into())]),
        Value::Map(vec![(Value::from(10i64), "x".into())]),
        Value::Map(vec![(Value::from(-65538i64), Value::Float(1.5))]),
        Value::Map(vec![(Value::from(-65538i64), Value::Array(vec![]))]),
        Value::Map(vec![(Value::from(-65538i64), "x".repeat(257).into())]),
        Value::Map(vec![(
            Value::from(-65538i64),
            Value::Integer(u64::MAX.into()),
        )]),
        Value::Map(
            (0..17)
                .map(|i| (Value::from(-65538i64 - i), Value::from(true)))
                .collect(),
        ),
    ];
    for claims in bad {
        assert_eq!(
            msg::<Attest>(attest(claims)),
            "argument `claims` is invalid"
        );
    }
    let ok = decode_args::<Attest>(&attest(Value::Map(vec![
        (Value::from(-65538i64), "blue".into()),
        (Value::from(-65539i64), Value::from(-5i64)),
        (Value::from(-65540i64), Value::Bytes(vec![1])),
        (Value::from(-65541i64), true.into()),
    ])))
    .unwrap();
    assert_eq!(ok.claims.map(|c| c.len()), Some(4));
}

#[test]
fn arg_errors_are_the_wire_arg_errors() {
    let e = decode_args::<KeySign>(&Args::new()).unwrap_err();
    assert_eq!(e, ArgError::Missing("purpose".into()));
}

#[test]
fn trust_add_has_two_forms() {
    let key = decode_args::<TrustAdd>(
        &Args::new()
            .with("public_key", "k")
            .with("label", "acme")
            .with("scopes", Value::Array(vec![])),
    )
    .unwrap();
    assert!(matches!(key.form(), Ok(TrustAddForm::Key { .. })));
    let file = decode_args::<TrustAdd>(&Args::new().with("root_file", "f")).unwrap();
    assert_eq!(file.form(), Ok(TrustAddForm::RootFile("f".into())));
    let both =
        decode_args::<TrustAdd>(&Args::new().with("root_file", "f").with("label", "acme")).unwrap();
    assert_eq!(
        both.form().unwrap_err().to_string(),
        "unexpected argument `label`"
    );
    let half = decode_args::<TrustAdd>(&Args::new().with("public_key", "k")).unwrap();
    assert_eq!(
        half.form().unwrap_err().to_string(),
        "missing argument `label`"
    );
}
