//! The `args` map of a request, with typed accessors.
//!
//! Invariants: every key is a name of 1..=[`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes from
//! `[A-Za-z0-9._-]` and appears once, so a key is always safe to repeat in
//! an error message or a log line and no argument can be given twice with
//! two meanings. Accessor failures are [`ArgError`]s, all `EINVAL`, naming
//! the argument but never echoing its value.

use crate::message::valid_name;
use ciborium::Value;
use nexus_core::{Coded, ErrorCode};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::str::FromStr;

/// Why an argument could not be read. Every variant is `EINVAL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// A required argument is absent.
    #[error("missing argument `{0}`")]
    Missing(String),
    /// The argument has another CBOR type than the one required.
    #[error("argument `{name}` must be {expected}")]
    WrongType {
        /// The argument's name.
        name: String,
        /// The CBOR type required, in words.
        expected: &'static str,
    },
    /// The argument has the right type but is not acceptable (out of range,
    /// or rejected by the parser for its type).
    #[error("argument `{0}` is invalid")]
    Invalid(String),
    /// The request carries an argument this operation does not take.
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    /// An argument name is not a valid name, or appears twice.
    #[error("malformed argument name")]
    BadName,
}

impl Coded for ArgError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// The arguments of a request: names to CBOR values, in the order given.
/// Their strings are wiped when the arguments are dropped (they may carry
/// secrets), and `Debug` shows the names only.
#[derive(Clone, Default, PartialEq)]
pub struct Args {
    entries: Vec<(String, Value)>,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Args")
            .field(&self.names().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for Args {
    fn drop(&mut self) {
        for (_, v) in &mut self.entries {
            crate::scrub::scrub_value(v);
        }
    }
}

impl Args {
    /// No arguments.
    pub fn new() -> Args {
        Args::default()
    }

    /// Add (or replace) an argument; for building requests and replies.
    /// A name outside the allowed charset is refused.
    pub fn try_with(mut self, name: &str, value: impl Into<Value>) -> Result<Args, ArgError> {
        if !valid_name(name) {
            return Err(ArgError::BadName);
        }
        self.insert(name, value.into());
        Ok(self)
    }

    /// Like [`Args::try_with`] for names known at compile time. A name
    /// outside the charset is dropped, so the server answers with a missing
    /// argument rather than a malformed frame.
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Args {
        if valid_name(name) {
            self.insert(name, value.into());
        }
        self
    }

    fn insert(&mut self, name: &str, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((name.to_owned(), value)),
        }
    }

    /// Build from a CBOR value, which must be a map with valid, distinct
    /// text keys. A value refused is wiped before the error is returned.
    pub fn from_value(mut value: Value) -> Result<Args, ArgError> {
        Args::take_from(&mut value)
    }

    /// [`Args::from_value`] over a value in place: the entries are moved
    /// out if accepted; if refused, the value is wiped.
    fn take_from(value: &mut Value) -> Result<Args, ArgError> {
        let names_ok = match &*value {
            Value::Map(pairs) => {
                // Duplicates by sorting the names: O(n log n) however many
                // a peer sends (comparing each name with every earlier one
                // was quadratic).
                let mut names = Vec::with_capacity(pairs.len());
                for (k, _) in pairs {
                    match k.as_text() {
                        Some(k) if valid_name(k) => names.push(k),
                        _ => {
                            names.clear();
                            break;
                        }
                    }
                }
                names.sort_unstable();
                names.len() == pairs.len() && names.windows(2).all(|w| w[0] != w[1])
            }
            _ => false,
        };
        if !names_ok {
            crate::scrub::scrub_value(value);
            return Err(ArgError::BadName);
        }
        let Value::Map(pairs) = value else {
            return Err(ArgError::BadName);
        };
        let entries = std::mem::take(pairs)
            .into_iter()
            .filter_map(|(k, v)| match k {
                Value::Text(k) => Some((k, v)),
                _ => None,
            })
            .collect();
        Ok(Args { entries })
    }

    /// The arguments as a CBOR map.
    pub fn into_value(mut self) -> Value {
        Value::Map(
            std::mem::take(&mut self.entries)
                .into_iter()
                .map(|(k, v)| (Value::Text(k), v))
                .collect(),
        )
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The arguments in order: `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The raw value of an argument, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Refuse any argument whose name is not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ArgError> {
        match self.names().find(|n| !allowed.contains(n)) {
            Some(extra) => Err(ArgError::Unexpected(extra.to_owned())),
            None => Ok(()),
        }
    }

    fn required(&self, name: &str) -> Result<&Value, ArgError> {
        self.get(name)
            .ok_or_else(|| ArgError::Missing(name.to_owned()))
    }

    fn typed<'a, T>(
        name: &str,
        v: &'a Value,
        expected: &'static str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, ArgError> {
        f(v).ok_or_else(|| ArgError::WrongType {
            name: name.to_owned(),
            expected,
        })
    }

    /// A required text argument.
    pub fn text(&self, name: &str) -> Result<&str, ArgError> {
        Self::typed(name, self.required(name)?, "a text string", Value::as_text)
    }

    /// An optional text argument.
    pub fn opt_text(&self, name: &str) -> Result<Option<&str>, ArgError> {
        self.get(name)
            .map(|v| Self::typed(name, v, "a text string", Value::as_text))
            .transpose()
    }

    /// A required byte-string argument.
    pub fn bytes(&self, name: &str) -> Result<&[u8], ArgError> {
        Self::typed(name, self.required(name)?, "a byte string", |v| {
            v.as_bytes().map(Vec::as_slice)
        })
    }

    /// An optional byte-string argument.
    pub fn opt_bytes(&self, name: &str) -> Result<Option<&[u8]>, ArgError> {
        self.get(name)
            .map(|v| {
                Self::typed(name, v, "a byte string", |v| {
                    v.as_bytes().map(Vec::as_slice)
                })
            })
            .transpose()
    }

    fn uint(name: &str, v: &Value) -> Result<u64, ArgError> {
        let i = Self::typed(name, v, "an unsigned integer", Value::as_integer)?;
        u64::try_from(i).map_err(|_| ArgError::Invalid(name.to_owned()))
    }

    /// A required unsigned integer argument (0..=2^64-1).
    pub fn u64(&self, name: &str) -> Result<u64, ArgError> {
        Self::uint(name, self.required(name)?)
    }

    /// An optional unsigned integer argument.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, ArgError> {
        self.get(name).map(|v| Self::uint(name, v)).transpose()
    }

    /// A required unsigned integer argument that must fit in 32 bits.
    pub fn u32(&self, name: &str) -> Result<u32, ArgError> {
        u32::try_from(self.u64(name)?).map_err(|_| ArgError::Invalid(name.to_owned()))
    }

    /// A required boolean argument.
    pub fn bool(&self, name: &str) -> Result<bool, ArgError> {
        Self::typed(name, self.required(name)?, "a boolean", Value::as_bool)
    }

    /// An optional boolean argument.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ArgError> {
        self.get(name)
            .map(|v| Self::typed(name, v, "a boolean", Value::as_bool))
            .transpose()
    }

    /// A required array of text strings.
    pub fn text_list(&self, name: &str) -> Result<Vec<&str>, ArgError> {
        let items = Self::typed(
            name,
            self.required(name)?,
            "an array of text strings",
            |v| v.as_array(),
        )?;
        items
            .iter()
            .map(|i| Self::typed(name, i, "an array of text strings", Value::as_text))
            .collect()
    }

    /// A required text argument parsed into a validated type (an `AppId`, a
    /// `Label`, …). A parse failure is [`ArgError::Invalid`]; the parser's
    /// own message is not passed on, so the value can never be echoed.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, ArgError> {
        self.text(name)?
            .parse()
            .map_err(|_| ArgError::Invalid(name.to_owned()))
    }

    /// An optional text argument parsed into a validated type.
    pub fn opt_parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ArgError> {
        self.opt_text(name)?
            .map(|s| s.parse().map_err(|_| ArgError::Invalid(name.to_owned())))
            .transpose()
    }
}

impl From<Args> for Value {
    fn from(a: Args) -> Value {
        a.into_value()
    }
}

impl TryFrom<Value> for Args {
    type Error = ArgError;
    fn try_from(v: Value) -> Result<Args, ArgError> {
        Args::from_value(v)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::AppId;

    fn sample() -> Args {
        Args::new()
            .with("name", "k1")
            .with("msg", Value::Bytes(vec![1, 2]))
            .with("n", 7u64)
            .with("flag", true)
            .with("neg", -1i64)
            .with("app", "com.example.a")
            .with(
                "scopes",
                Value::Array(vec!["packages".into(), "updates".into()]),
            )
    }

    #[test]
    fn typed_accessors() {
        let a = sample();
        assert_eq!(a.text("name").unwrap(), "k1");
        assert_eq!(a.bytes("msg").unwrap(), &[1, 2]);
        assert_eq!(a.u64("n").unwrap(), 7);
        assert_eq!(a.u32("n").unwrap(), 7);
        assert_eq!(a.opt_u64("n").unwrap(), Some(7));
        assert_eq!(a.opt_u64("absent").unwrap(), None);
        assert!(a.bool("flag").unwrap());
        assert_eq!(a.opt_text("absent").unwrap(), None);
        assert_eq!(a.parse::<AppId>("app").unwrap().as_str(), "com.example.a");
        assert_eq!(a.text_list("scopes").unwrap(), ["packages", "updates"]);
        let again = Args::from_value(a.clone().into_value()).unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn test_reject_malformed_maps_and_wipe_them() {
        let secret = || Value::Text("hunter2".into());
        for mut bad in [
            Value::Map(vec![("pw".into(), secret()), ("pw".into(), secret())]),
            Value::Map(vec![("pw".into(), secret()), ("a b".into(), secret())]),
            Value::Map(vec![("pw".into(), secret()), (1u64.into(), secret())]),
            Value::Array(vec![secret()]),
        ] {
            assert_eq!(Args::take_from(&mut bad), Err(ArgError::BadName));
            assert!(!format!("{bad:?}").contains("hunter2"), "{bad:?}");
        }
        let a = Args::new().with("password", "hunter2");
        assert_eq!(format!("{a:?}"), r#"Args(["password"])"#);
    }

    #[test]
    fn test_reject_wrong_argument_types() {
        let a = sample();
        let e = a.text("absent").unwrap_err();
        assert_eq!(e, ArgError::Missing("absent".into()));
        assert_eq!(e.code(), ErrorCode::Einval);
        assert_eq!(e.to_string(), "missing argument `absent`");
        let e = a.bytes("name").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Einval);
        assert_eq!(e.to_string(), "argument `name` must be a byte string");
        assert!(matches!(a.u64("neg"), Err(ArgError::Invalid(_))));
        assert!(matches!(a.opt_bool("n"), Err(ArgError::WrongType { .. })));
        assert!(matches!(
            Args::new().with("n", u64::MAX).u32("n"),
            Err(ArgError::Invalid(_))
        ));
        let bad_app = Args::new().with("app", "../etc");
        let e = bad_app.parse::<AppId>("app").unwrap_err();
        assert!(!e.to_string().contains("etc"), "value must not be echoed");
        assert_eq!(a.only(&["name"]), Err(ArgError::Unexpected("msg".into())));
        assert!(matches!(
            Args::new().try_with("a b", 1u64),
            Err(ArgError::BadName)
        ));
        let dup = Value::Map(vec![("a".into(), 1u64.into()), ("a".into(), 2u64.into())]);
        assert_eq!(Args::from_value(dup), Err(ArgError::BadName));
        assert_eq!(
            Args::from_value(Value::Map(vec![(1u64.into(), 1u64.into())])),
            Err(ArgError::BadName)
        );
    }
}
