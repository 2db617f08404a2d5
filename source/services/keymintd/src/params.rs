//! keymintd's argument and reply shapes, shared by the server (parsing
//! requests) and [`crate::RemoteKeyMint`] (building them).
//!
//! Invariants: every value is parsed into its validated type at the edge
//! (`AppId`, `Label`, `UserId`, `SessionId`, [`Algorithm`], a 32-byte
//! [`AuthSecret`]); a failure names the argument (`ident.version`, `auth`)
//! and never echoes its value. Auth secrets are copied only into zeroizing
//! storage.

use keymint::{Algorithm, AuthSecret, KeyIdentity};
use nexus_core::{SessionId, UserId};
use wire::{ArgError, Args, Value};
use zeroize::Zeroize;

/// The fields of an `ident` map.
const IDENT_FIELDS: [&str; 5] = ["app", "purpose", "name", "version", "alg"];

/// `ident` as sent on the wire: `{app, purpose, name, version, alg}`.
pub fn ident_value(id: &KeyIdentity) -> Value {
    Args::new()
        .with("app", id.app.as_str())
        .with("purpose", id.purpose.as_str())
        .with("name", id.name.as_str())
        .with("version", u64::from(id.version))
        .with("alg", id.alg.as_str())
        .into_value()
}

fn nested(e: ArgError) -> ArgError {
    match e {
        ArgError::Missing(n) => ArgError::Missing(format!("ident.{n}")),
        ArgError::WrongType { name, expected } => ArgError::WrongType {
            name: format!("ident.{name}"),
            expected,
        },
        ArgError::Invalid(n) => ArgError::Invalid(format!("ident.{n}")),
        ArgError::Unexpected(n) => ArgError::Unexpected(format!("ident.{n}")),
        ArgError::BadName => ArgError::Invalid("ident".to_owned()),
    }
}

/// The `ident` argument: a map naming the key version a blob belongs to.
pub fn ident(args: &Args) -> Result<KeyIdentity, ArgError> {
    let value = args
        .get("ident")
        .ok_or_else(|| ArgError::Missing("ident".to_owned()))?;
    if !value.is_map() {
        return Err(ArgError::WrongType {
            name: "ident".to_owned(),
            expected: "a map",
        });
    }
    let inner = Args::from_value(value.clone()).map_err(nested)?;
    inner.only(&IDENT_FIELDS).map_err(nested)?;
    let version = inner.u32("version").map_err(nested)?;
    if version == 0 {
        return Err(ArgError::Invalid("ident.version".to_owned()));
    }
    let alg = Algorithm::parse(inner.text("alg").map_err(nested)?)
        .ok_or_else(|| ArgError::Invalid("ident.alg".to_owned()))?;
    Ok(KeyIdentity {
        app: inner.parse("app").map_err(nested)?,
        purpose: inner.parse("purpose").map_err(nested)?,
        name: inner.parse("name").map_err(nested)?,
        version,
        alg,
    })
}

/// A 32-byte auth secret argument.
pub fn auth(args: &Args, name: &str) -> Result<AuthSecret, ArgError> {
    let bytes = args.bytes(name)?;
    let mut arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ArgError::Invalid(name.to_owned()))?;
    let secret = AuthSecret::from_bytes(arr);
    arr.zeroize();
    Ok(secret)
}

/// The `sid` argument (32 hex digits).
pub fn sid(args: &Args) -> Result<SessionId, ArgError> {
    args.parse("sid")
}

/// The `user` argument.
pub fn user(args: &Args) -> Result<UserId, ArgError> {
    args.parse("user")
}

/// Zeroize every byte string in `args` (auth secrets, plaintexts) once a
/// request built from it has been sent.
pub fn scrub(args: Args) {
    if let Value::Map(pairs) = args.into_value() {
        for (_, v) in pairs {
            if let Value::Bytes(mut b) = v {
                b.zeroize();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{AppId, Coded, ErrorCode, Label};

    fn sample() -> KeyIdentity {
        KeyIdentity {
            app: AppId::new("com.example.alpha").unwrap(),
            purpose: Label::new("signing").unwrap(),
            name: Label::new("k1").unwrap(),
            version: 3,
            alg: Algorithm::Ed25519,
        }
    }

    fn with_ident(v: Value) -> Args {
        Args::new().with("ident", v)
    }

    fn edit(name: &'static str, v: impl Into<Value>) -> Args {
        let inner = Args::from_value(ident_value(&sample()))
            .unwrap()
            .with(name, v);
        with_ident(inner.into_value())
    }

    #[test]
    fn ident_round_trips() {
        assert_eq!(
            ident(&with_ident(ident_value(&sample()))).unwrap(),
            sample()
        );
    }

    #[test]
    fn test_reject_malformed_ident() {
        let cases: Vec<(Args, &str)> = vec![
            (Args::new(), "missing argument `ident`"),
            (with_ident("x".into()), "argument `ident` must be a map"),
            (edit("version", 0u64), "argument `ident.version` is invalid"),
            (
                edit("version", u64::from(u32::MAX) + 1),
                "argument `ident.version` is invalid",
            ),
            (
                edit("version", "1"),
                "argument `ident.version` must be an unsigned integer",
            ),
            (edit("alg", "RSA"), "argument `ident.alg` is invalid"),
            (edit("app", "../etc"), "argument `ident.app` is invalid"),
            (edit("name", ""), "argument `ident.name` is invalid"),
            (edit("extra", 1u64), "unexpected argument `ident.extra`"),
            (
                with_ident(Value::Map(vec![(1u64.into(), 1u64.into())])),
                "argument `ident` is invalid",
            ),
            (
                with_ident(Args::new().with("app", "a").into_value()),
                "missing argument `ident.version`",
            ),
        ];
        for (args, msg) in cases {
            let e = ident(&args).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Einval);
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn test_reject_auth_of_wrong_length() {
        for len in [0usize, 31, 33, 64] {
            let a = Args::new().with("auth", Value::Bytes(vec![7; len]));
            let e = auth(&a, "auth").err().unwrap();
            assert_eq!(e, ArgError::Invalid("auth".into()));
        }
        let a = Args::new().with("auth", "not bytes");
        assert!(matches!(auth(&a, "auth"), Err(ArgError::WrongType { .. })));
        let ok = Args::new().with("auth", Value::Bytes(vec![7; 32]));
        assert_eq!(auth(&ok, "auth").unwrap().expose_secret(), &[7; 32]);
    }

    #[test]
    fn test_reject_bad_sid_and_user() {
        let a = Args::new().with("sid", "abc").with("user", "a/b");
        assert_eq!(sid(&a).unwrap_err(), ArgError::Invalid("sid".into()));
        assert_eq!(user(&a).unwrap_err(), ArgError::Invalid("user".into()));
    }
}
