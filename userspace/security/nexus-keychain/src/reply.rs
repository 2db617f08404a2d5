//! Reading a service's `ok` value: typed field access with errors that
//! name the op and the field, never the value.
//!
//! Invariants: a reply that is not a map, has a field twice, or has a
//! field of the wrong type is a [`KeychainError::BadReply`] (`EIO`): the
//! client never guesses. Fields the contract does not name are ignored, so
//! a newer service may add fields. A `null` optional field is the same as
//! an absent one. Secret fields are moved out, never copied.

use crate::error::KeychainError;
use crate::secret::SecretBytes;
use crate::service::Service;
use keymint::kid::Kid;
use std::str::FromStr;
use wire::Value;

/// An `ok` map being read.
pub struct ReplyMap {
    service: Service,
    op: &'static str,
    fields: Vec<(String, Value)>,
}

impl std::fmt::Debug for ReplyMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Field names only: a reply may hold a secret value.
        let names: Vec<&str> = self.fields.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ReplyMap")
            .field("op", &self.op)
            .field("fields", &names)
            .finish()
    }
}

impl ReplyMap {
    /// Read `value`, the reply of `service` to `op`; it must be a map with
    /// distinct text keys.
    pub fn new(
        service: Service,
        op: &'static str,
        value: Value,
    ) -> Result<ReplyMap, KeychainError> {
        let bad = |detail: &str| KeychainError::BadReply {
            service,
            op,
            detail: detail.to_owned(),
        };
        let Value::Map(pairs) = value else {
            return Err(bad("the reply is not a map"));
        };
        let mut fields: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let Value::Text(k) = k else {
                return Err(bad("a field name is not text"));
            };
            if fields.iter().any(|(seen, _)| *seen == k) {
                return Err(bad("a field appears twice"));
            }
            fields.push((k, v));
        }
        Ok(ReplyMap {
            service,
            op,
            fields,
        })
    }

    /// An error naming `field` and what is wrong with it.
    pub fn bad(&self, field: &str, problem: &str) -> KeychainError {
        KeychainError::BadReply {
            service: self.service,
            op: self.op,
            detail: format!("`{field}` {problem}"),
        }
    }

    /// The raw value of `field`, if present and not null.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        let i = self.fields.iter().position(|(k, _)| k == field)?;
        let (_, v) = self.fields.swap_remove(i);
        (!v.is_null()).then_some(v)
    }

    fn required(&self, field: &str) -> Result<&Value, KeychainError> {
        self.get(field).ok_or_else(|| self.bad(field, "is missing"))
    }

    /// A required text field.
    pub fn text(&self, field: &str) -> Result<String, KeychainError> {
        self.required(field)?
            .as_text()
            .map(str::to_owned)
            .ok_or_else(|| self.bad(field, "is not text"))
    }

    /// An optional text field.
    pub fn opt_text(&self, field: &str) -> Result<Option<String>, KeychainError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_text()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| self.bad(field, "is not text")),
        }
    }

    /// A required text field parsed into a validated type.
    pub fn parse<T: FromStr>(&self, field: &str) -> Result<T, KeychainError> {
        self.text(field)?
            .parse()
            .map_err(|_| self.bad(field, "is not valid"))
    }

    /// A required kid (64 hex digits).
    pub fn kid(&self, field: &str) -> Result<Kid, KeychainError> {
        Kid::from_hex(&self.text(field)?).map_err(|_| self.bad(field, "is not a kid"))
    }

    /// An optional kid.
    pub fn opt_kid(&self, field: &str) -> Result<Option<Kid>, KeychainError> {
        self.opt_text(field)?
            .map(|s| Kid::from_hex(&s).map_err(|_| self.bad(field, "is not a kid")))
            .transpose()
    }

    /// A required byte string (moved out of the reply).
    pub fn bytes(&mut self, field: &str) -> Result<Vec<u8>, KeychainError> {
        match self.take(field) {
            Some(Value::Bytes(b)) => Ok(b),
            Some(_) => Err(self.bad(field, "is not a byte string")),
            None => Err(self.bad(field, "is missing")),
        }
    }

    /// An optional byte string.
    pub fn opt_bytes(&mut self, field: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        match self.take(field) {
            Some(Value::Bytes(b)) => Ok(Some(b)),
            Some(_) => Err(self.bad(field, "is not a byte string")),
            None => Ok(None),
        }
    }

    /// A required secret byte string, moved straight into [`SecretBytes`].
    pub fn secret(&mut self, field: &str) -> Result<SecretBytes, KeychainError> {
        self.bytes(field).map(SecretBytes::new)
    }

    /// A required unsigned integer.
    pub fn u64(&self, field: &str) -> Result<u64, KeychainError> {
        self.required(field)?
            .as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| self.bad(field, "is not an unsigned integer"))
    }

    /// An optional unsigned integer.
    pub fn opt_u64(&self, field: &str) -> Result<Option<u64>, KeychainError> {
        match self.get(field) {
            None => Ok(None),
            Some(_) => self.u64(field).map(Some),
        }
    }

    /// A required boolean.
    pub fn bool(&self, field: &str) -> Result<bool, KeychainError> {
        self.required(field)?
            .as_bool()
            .ok_or_else(|| self.bad(field, "is not a boolean"))
    }

    /// A required array of text strings.
    pub fn text_list(&self, field: &str) -> Result<Vec<String>, KeychainError> {
        let items = self
            .required(field)?
            .as_array()
            .ok_or_else(|| self.bad(field, "is not an array"))?;
        items
            .iter()
            .map(|i| {
                i.as_text()
                    .map(str::to_owned)
                    .ok_or_else(|| self.bad(field, "holds a non-text item"))
            })
            .collect()
    }

    /// A required array whose items are maps, each read as a [`ReplyMap`].
    pub fn maps(&mut self, field: &str) -> Result<Vec<ReplyMap>, KeychainError> {
        let (service, op) = (self.service, self.op);
        match self.take(field) {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| ReplyMap::new(service, op, v))
                .collect(),
            Some(_) => Err(self.bad(field, "is not an array")),
            None => Err(self.bad(field, "is missing")),
        }
    }

    /// A required field of any type (for values the contract leaves open,
    /// such as maps of versions).
    pub fn value(&mut self, field: &str) -> Result<Value, KeychainError> {
        self.take(field)
            .ok_or_else(|| self.bad(field, "is missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    #[test]
    fn typed_fields() {
        let kid = "ab".repeat(32);
        let mut r = ReplyMap::new(
            Service::Keystored,
            "key.sign",
            map(vec![
                ("sig", Value::Bytes(vec![1, 2])),
                ("kid", kid.clone().into()),
                ("version", 3u64.into()),
                ("opt", Value::Null),
                ("extra", true.into()),
            ]),
        )
        .unwrap();
        assert_eq!(r.kid("kid").unwrap().to_hex(), kid);
        assert_eq!(r.u64("version").unwrap(), 3);
        assert_eq!(r.opt_u64("opt").unwrap(), None);
        assert_eq!(r.opt_kid("opt").unwrap(), None);
        assert_eq!(r.bytes("sig").unwrap(), vec![1, 2]);
        assert!(r.bool("extra").unwrap());
    }

    #[test]
    fn test_reject_malformed_replies() {
        let e = ReplyMap::new(Service::Keystored, "key.sign", Value::Bool(true)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
        assert!(e.is_transport());
        let dup = Value::Map(vec![("a".into(), 1u64.into()), ("a".into(), 2u64.into())]);
        let e = ReplyMap::new(Service::Keystored, "x", dup).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
        let nontext = Value::Map(vec![(1u64.into(), 1u64.into())]);
        assert!(ReplyMap::new(Service::Keystored, "x", nontext).is_err());
        let mut r = ReplyMap::new(
            Service::Keystored,
            "key.sign",
            map(vec![
                ("sig", "text".into()),
                ("kid", "zz".into()),
                ("version", (-1i64).into()),
            ]),
        )
        .unwrap();
        let e = r.bytes("sig").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
        assert!(e.to_string().contains("`sig` is not a byte string"));
        assert!(!e.to_string().contains("text\""));
        assert!(r.kid("kid").is_err());
        assert!(r.u64("version").is_err());
        assert!(r
            .text("absent")
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }
}
