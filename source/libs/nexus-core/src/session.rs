//! Session ids: 128 random bits, shown as 32 lowercase hex digits.
//!
//! A session id selects a session; it never grants anything by itself: the
//! caller's subject still comes from its channel.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An opaque session id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 16]);

/// A string that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a session id is 32 hex digits")]
pub struct SessionIdParseError;

impl SessionId {
    /// Wrap 16 random bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        SessionId(b)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a prefix: enough to correlate, not enough to reuse.
        write!(f, "SessionId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl FromStr for SessionId {
    type Err = SessionIdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex16(s).map(SessionId).ok_or(SessionIdParseError)
    }
}

/// 32 hex digits (either case) as 16 bytes.
pub(crate) fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    let bytes = s.as_bytes();
    if bytes.len() != 32 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

/// On the wire a session id is its hex text.
impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_short_debug() {
        let s = SessionId::from_bytes([0xa5; 16]);
        assert_eq!(s.to_string().parse::<SessionId>(), Ok(s));
        assert_eq!(format!("{s:?}"), "SessionId(a5a5…)");
    }

    #[test]
    fn test_reject_bad_session_ids() {
        for bad in [
            "",
            "abc",
            &"g".repeat(32),
            &"a".repeat(33),
            "+1234567890abcdef1234567890abcde",
        ] {
            assert_eq!(bad.parse::<SessionId>(), Err(SessionIdParseError), "{bad}");
        }
    }
}
