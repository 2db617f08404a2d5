//! Key ids: the 32-byte RFC 9679 COSE Key Thumbprint of a public key, shown
//! as 64 lowercase hex digits.
//!
//! This is the type only: a validated newtype that names a key in the
//! keystore, in attestation tokens and in the trust store. Computing a
//! thumbprint needs SHA-256 and lives in the crypto core (`keymint::kid`);
//! clients that only carry kids around depend on nothing but this crate.
//!
//! Invariant: a [`Kid`] is always exactly 32 bytes; its text form is
//! always 64 lowercase hex digits (either case is accepted on input).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A 32-byte RFC 9679 thumbprint, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kid([u8; 32]);

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a kid is 64 hex digits")]
pub struct KidParseError;

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Kid {
    /// Wrap raw thumbprint bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Kid(bytes)
    }

    /// The raw thumbprint.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Parse 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, KidParseError> {
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(KidParseError);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (
                pair.first().copied().and_then(nibble),
                pair.get(1).copied().and_then(nibble),
            ) else {
                return Err(KidParseError);
            };
            *byte = (hi << 4) | lo;
        }
        Ok(Kid(out))
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({self})")
    }
}

impl FromStr for Kid {
    type Err = KidParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kid::from_hex(s)
    }
}

/// On the wire a kid is its hex text.
impl Serialize for Kid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Kid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Kid::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let k = Kid::from_bytes([0xab; 32]);
        assert_eq!(k.to_hex(), "ab".repeat(32));
        assert_eq!(Kid::from_hex(&k.to_hex()), Ok(k));
        assert_eq!(Kid::from_hex(&k.to_hex().to_uppercase()), Ok(k));
        let mixed = Kid::from_bytes(core::array::from_fn(|i| i as u8 * 8));
        assert_eq!(mixed.to_hex().parse::<Kid>(), Ok(mixed));
        assert_eq!(format!("{mixed:?}"), format!("Kid({})", mixed.to_hex()));
    }

    #[test]
    fn test_reject_bad_hex() {
        for bad in [
            String::new(),
            "ab".into(),
            "zz".repeat(32),
            "a".repeat(63),
            "a".repeat(65),
            format!("+{}", "a".repeat(63)),
            format!("{}é", "a".repeat(62)),
        ] {
            assert_eq!(Kid::from_hex(&bad), Err(KidParseError), "{bad}");
        }
    }

    #[test]
    fn serde_is_the_hex_text() {
        let k = Kid::from_bytes([0x0f; 32]);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", "0f".repeat(32)));
        assert_eq!(serde_json::from_str::<Kid>(&json).unwrap(), k);
        assert!(serde_json::from_str::<Kid>("\"abc\"").is_err());
    }
}
