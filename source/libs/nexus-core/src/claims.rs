//! Custom claims: caller-supplied claims an attestation token carries at
//! private labels, bounded by the project's attestation profile.
//!
//! The type lives here, not in the token crate, because it is also the
//! `claims` argument of the `attest` op: clients build it without any
//! crypto dependency, and the protocol decodes it.
//!
//! Invariants (held from construction): labels are ≤
//! [`CUSTOM_CLAIM_LABEL_MAX`] (-65538; -65537 is the profile's own stub
//! claim), distinct, at most [`MAX_CUSTOM_CLAIMS`]; text has no control
//! characters; text and byte values are at most [`MAX_CUSTOM_VALUE_LEN`]
//! bytes. On the wire the set is a CBOR map of integer labels to integers,
//! booleans, text or byte strings.

use crate::code::{Coded, ErrorCode};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Most custom claims in one token.
pub const MAX_CUSTOM_CLAIMS: usize = 16;
/// Longest custom claim text or byte string, in bytes.
pub const MAX_CUSTOM_VALUE_LEN: usize = 256;
/// Custom claims use labels at or below this one.
pub const CUSTOM_CLAIM_LABEL_MAX: i64 = -65538;

/// A custom claim or claim set outside the documented bounds (`EINVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("custom claim out of bounds")]
pub struct ClaimError;

impl Coded for ClaimError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// The value of a custom claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomValue {
    /// A signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// UTF-8 text without control characters.
    Text(String),
    /// Opaque bytes.
    Bytes(Vec<u8>),
}

impl CustomValue {
    fn check(&self) -> Result<(), ClaimError> {
        let ok = match self {
            CustomValue::Int(_) | CustomValue::Bool(_) => true,
            CustomValue::Text(t) => {
                t.len() <= MAX_CUSTOM_VALUE_LEN && !t.chars().any(char::is_control)
            }
            CustomValue::Bytes(b) => b.len() <= MAX_CUSTOM_VALUE_LEN,
        };
        if ok {
            Ok(())
        } else {
            Err(ClaimError)
        }
    }
}

/// Caller-supplied claims at private labels ≤ [`CUSTOM_CLAIM_LABEL_MAX`],
/// at most [`MAX_CUSTOM_CLAIMS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomClaims(BTreeMap<i64, CustomValue>);

impl CustomClaims {
    /// No custom claims.
    pub fn new() -> Self {
        CustomClaims::default()
    }

    /// Add a claim. Refused if the label is outside the custom range or
    /// already used, the value is out of bounds, or the set is full.
    pub fn insert(&mut self, label: i64, value: CustomValue) -> Result<(), ClaimError> {
        if label > CUSTOM_CLAIM_LABEL_MAX
            || self.0.contains_key(&label)
            || self.0.len() >= MAX_CUSTOM_CLAIMS
        {
            return Err(ClaimError);
        }
        value.check()?;
        self.0.insert(label, value);
        Ok(())
    }

    /// The claim at `label`, if any.
    pub fn get(&self, label: i64) -> Option<&CustomValue> {
        self.0.get(&label)
    }

    /// All claims, by label.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &CustomValue)> {
        self.0.iter().map(|(l, v)| (*l, v))
    }

    /// How many claims.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for CustomValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CustomValue::Int(i) => s.serialize_i64(*i),
            CustomValue::Bool(b) => s.serialize_bool(*b),
            CustomValue::Text(t) => s.serialize_str(t),
            CustomValue::Bytes(b) => s.serialize_bytes(b),
        }
    }
}

struct ValueVisitor;

impl Visitor<'_> for ValueVisitor {
    type Value = CustomValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, a boolean, a text string or a byte string")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CustomValue, E> {
        Ok(CustomValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CustomValue, E> {
        i64::try_from(v)
            .map(CustomValue::Int)
            .map_err(|_| E::custom(ClaimError))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<CustomValue, E> {
        Ok(CustomValue::Bool(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<CustomValue, E> {
        Ok(CustomValue::Text(v.to_owned()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<CustomValue, E> {
        Ok(CustomValue::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<CustomValue, E> {
        Ok(CustomValue::Bytes(v))
    }
}

impl<'de> Deserialize<'de> for CustomValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CustomValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A CBOR map of integer labels to values, in label order.
impl Serialize for CustomClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (label, value) in &self.0 {
            m.serialize_entry(label, value)?;
        }
        m.end()
    }
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = CustomClaims;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of integer labels to claim values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomClaims, A::Error> {
        let mut out = CustomClaims::new();
        while let Some(label) = map.next_key::<i64>()? {
            let value = map.next_value::<CustomValue>()?;
            out.insert(label, value).map_err(de::Error::custom)?;
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for CustomClaims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CustomClaims, D::Error> {
        d.deserialize_map(ClaimsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_from_construction() {
        let mut c = CustomClaims::new();
        c.insert(-65538, CustomValue::Text("build-42".into()))
            .unwrap();
        c.insert(-70000, CustomValue::Bytes(vec![1; 256])).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.iter().next().map(|(l, _)| l), Some(-70000));
    }

    #[test]
    fn test_reject_out_of_bounds_claims() {
        let mut c = CustomClaims::new();
        assert_eq!(c.insert(-65537, CustomValue::Bool(true)), Err(ClaimError));
        assert_eq!(c.insert(10, CustomValue::Bool(true)), Err(ClaimError));
        assert_eq!(
            c.insert(-65538, CustomValue::Text("x".repeat(257))),
            Err(ClaimError)
        );
        assert_eq!(
            c.insert(-65538, CustomValue::Text("a\u{7}".into())),
            Err(ClaimError)
        );
        assert_eq!(
            c.insert(-65538, CustomValue::Bytes(vec![0; 257])),
            Err(ClaimError)
        );
        c.insert(-65538, CustomValue::Int(1)).unwrap();
        assert_eq!(c.insert(-65538, CustomValue::Int(2)), Err(ClaimError));
        for i in 1..MAX_CUSTOM_CLAIMS as i64 {
            c.insert(-65538 - i, CustomValue::Int(i)).unwrap();
        }
        assert_eq!(c.insert(-90000, CustomValue::Int(0)), Err(ClaimError));
        assert_eq!(ClaimError.code(), ErrorCode::Einval);
    }
}
