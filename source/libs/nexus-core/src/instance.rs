//! User instance ids: 128 random bits minted when a user is created,
//! shown as 32 lowercase hex digits.
//!
//! A user name can be deleted and created again; an instance cannot.
//! Everything a user owns (vault file, vault key binding, unsealed
//! session keys, caches, throttle records) is keyed by the instance, so
//! nothing of a deleted user can reach a new user of the same name.
//! Instance ids are not secret.

use crate::session::parse_hex16;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// One user's instance id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId([u8; 16]);

/// A string that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an instance id is 32 hex digits")]
pub struct InstanceIdParseError;

impl InstanceId {
    /// Wrap 16 random bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        InstanceId(b)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({self})")
    }
}

impl FromStr for InstanceId {
    type Err = InstanceIdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex16(s).map(InstanceId).ok_or(InstanceIdParseError)
    }
}

/// On the wire an instance id is its hex text.
impl Serialize for InstanceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_hex() {
        let i = InstanceId::from_bytes([0x0f; 16]);
        assert_eq!(i.to_string(), "0f".repeat(16));
        assert_eq!(i.to_string().parse::<InstanceId>(), Ok(i));
        assert_eq!("0F".repeat(16).parse::<InstanceId>(), Ok(i));
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            format!("\"{}\"", "0f".repeat(16))
        );
    }

    #[test]
    fn test_reject_bad_instance_ids() {
        for bad in ["", "0f", &"0f".repeat(17), &"zz".repeat(16), " 0f0f"] {
            assert_eq!(
                bad.parse::<InstanceId>(),
                Err(InstanceIdParseError),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<InstanceId>("\"alice\"").is_err());
    }
}
