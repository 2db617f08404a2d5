//! Artifact versions: dotted decimal numbers compared numerically, so that
//! `1.10` is newer than `1.9`. Missing trailing components count as zero
//! (`1` and `1.0` are the same version).
//!
//! Invariants: 1 to 8 components, each a canonical decimal `u64` (no sign,
//! no leading zeros except `0` itself), at most 64 bytes in all. The text
//! is therefore a valid statefs path segment.

use nexus_core::{Coded, ErrorCode};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The most components a version may have.
pub const MAX_VERSION_PARTS: usize = 8;
/// The longest version string, in bytes.
pub const MAX_VERSION_LEN: usize = 64;

/// Why a string is not a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Empty, longer than 64 bytes or more than 8 components.
    #[error("a version has 1 to 8 components and at most 64 bytes")]
    Shape,
    /// A component is empty, not decimal, has a leading zero or overflows.
    #[error("a version component is a decimal number without leading zeros")]
    Component,
}

impl Coded for VersionError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// A validated version.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    parts: Vec<u64>,
}

impl Version {
    /// Parse `1.2.3`.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        if s.is_empty() || s.len() > MAX_VERSION_LEN {
            return Err(VersionError::Shape);
        }
        let mut parts = Vec::new();
        for part in s.split('.') {
            if parts.len() == MAX_VERSION_PARTS {
                return Err(VersionError::Shape);
            }
            let canonical = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if !canonical {
                return Err(VersionError::Component);
            }
            parts.push(part.parse().map_err(|_| VersionError::Component)?);
        }
        Ok(Version {
            text: s.to_owned(),
            parts,
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric components.
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        (0..n)
            .map(|i| {
                let a = self.parts.get(i).copied().unwrap_or(0);
                let b = other.parts.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// Equality follows the numeric order (`1` == `1.0`), so it cannot be derived.
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, VersionError> {
        Version::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn compares_numerically() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("2") > v("1.99.99"));
        assert!(v("1.0.1") > v("1"));
        assert_eq!(v("1"), v("1.0.0"));
        assert!(v("0.0.1") > v("0"));
        assert_eq!(
            v("18446744073709551615").parts(),
            &[u64::MAX],
            "u64::MAX is a valid component"
        );
        assert_eq!(v("3.4.5").to_string(), "3.4.5");
    }

    #[test]
    fn test_reject_malformed_versions() {
        for bad in [
            "",
            ".",
            "1.",
            ".1",
            "1..2",
            "01",
            "1.02",
            "+1",
            "-1",
            "1a",
            "1 ",
            "v1",
            "1.2.3-rc1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Version::parse("18446744073709551616"),
            Err(VersionError::Component)
        );
        assert_eq!(
            Version::parse("1.1.1.1.1.1.1.1.1"),
            Err(VersionError::Shape)
        );
        assert_eq!(Version::parse(&"9".repeat(65)), Err(VersionError::Shape));
        assert_eq!(Version::parse("x").unwrap_err().code(), ErrorCode::Einval);
    }
}
