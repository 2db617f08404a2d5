//! Validated identifiers. Names reach the filesystem (as path segments) and
//! logs, so the charset is deliberately narrow: ASCII letters, digits and
//! `.`, `_`, `-`, starting with a letter or digit, at most
//! [`LABEL_MAX_LEN`] bytes. That rules out path traversal (`..`, `/`),
//! hidden files, control characters and terminal escapes by construction.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The longest label, app id or user id, in bytes.
pub const LABEL_MAX_LEN: usize = 64;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    #[error("identifier is empty")]
    Empty,
    /// The string is longer than [`LABEL_MAX_LEN`] bytes.
    #[error("identifier is longer than {LABEL_MAX_LEN} bytes")]
    TooLong,
    /// The string has a character outside the documented charset.
    #[error("identifier has a character outside [A-Za-z0-9._-] or does not start with a letter or digit")]
    BadChar,
}

fn validate(s: &str) -> Result<(), IdError> {
    let bytes = s.as_bytes();
    let first = *bytes.first().ok_or(IdError::Empty)?;
    if bytes.len() > LABEL_MAX_LEN {
        return Err(IdError::TooLong);
    }
    if !first.is_ascii_alphanumeric() {
        return Err(IdError::BadChar);
    }
    if bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(IdError::BadChar)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validate and wrap `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                validate(&s)?;
                Ok($name(s))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An application id, e.g. `com.example.notes`. `system` is reserved
    /// for the OS's own services.
    AppId
);
id_type!(
    /// A local user id, e.g. `alice`.
    UserId
);
id_type!(
    /// A key name or purpose, e.g. `device-attest`.
    Label
);

/// The prefix of a system service's own key namespace: `system:attestd`
/// owns `system.attestd`. No app id may start with it.
pub const SERVICE_NAMESPACE_PREFIX: &str = "system.";

/// The longest system service name that still makes a valid namespace
/// (`system.` + name fits [`LABEL_MAX_LEN`]).
pub const SERVICE_NAME_MAX_LEN: usize = LABEL_MAX_LEN - SERVICE_NAMESPACE_PREFIX.len();

impl AppId {
    /// The reserved app id `system`. It was the key namespace every system
    /// service shared; no subject owns it now (keystored moves its keys to
    /// their owners' namespaces), and it stays reserved.
    pub fn system() -> AppId {
        AppId(String::from("system"))
    }

    /// Whether this is the reserved `system` app id.
    pub fn is_system(&self) -> bool {
        self.0 == "system"
    }

    /// The key namespace of system service `name` (`system.<name>`), if
    /// the result is a valid id.
    pub fn service(name: &Label) -> Option<AppId> {
        AppId::new(format!("{SERVICE_NAMESPACE_PREFIX}{name}")).ok()
    }

    /// The service this namespace belongs to, if it is a service namespace
    /// (`system.<name>`).
    pub fn service_name(&self) -> Option<&str> {
        self.0
            .strip_prefix(SERVICE_NAMESPACE_PREFIX)
            .filter(|n| !n.is_empty())
    }

    /// Whether no app may have this id because another kind of subject
    /// owns (or owned) the namespace: `system`, `system.<name>`, `uid-<n>`.
    pub fn is_reserved(&self) -> bool {
        self.is_system()
            || self.0.starts_with(SERVICE_NAMESPACE_PREFIX)
            || self.0.starts_with("uid-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_charset() {
        for ok in ["a", "com.example.notes", "device-attest", "K_1", "9lives"] {
            assert!(Label::new(ok).is_ok(), "{ok}");
        }
        assert!(AppId::new("x".repeat(LABEL_MAX_LEN)).is_ok());
    }

    #[test]
    fn test_reject_bad_identifiers() {
        assert_eq!(Label::new(""), Err(IdError::Empty));
        assert_eq!(
            AppId::new("x".repeat(LABEL_MAX_LEN + 1)),
            Err(IdError::TooLong)
        );
        for bad in [
            "..",
            ".hidden",
            "a/b",
            "-x",
            "a b",
            "a\u{1b}[0m",
            "é",
            "a\0",
        ] {
            assert_eq!(UserId::new(bad), Err(IdError::BadChar), "{bad:?}");
        }
    }

    #[test]
    fn serde_validates() {
        let ok: AppId = serde_json::from_str("\"com.a\"").unwrap();
        assert_eq!(ok.as_str(), "com.a");
        assert!(serde_json::from_str::<AppId>("\"../etc\"").is_err());
        assert!(AppId::system().is_system());
    }

    #[test]
    fn service_namespaces_are_reserved() {
        let ns = AppId::service(&Label::new("attestd").unwrap()).unwrap();
        assert_eq!(ns.as_str(), "system.attestd");
        assert_eq!(ns.service_name(), Some("attestd"));
        assert!(ns.is_reserved());
        for reserved in ["system", "system.x", "uid-7"] {
            assert!(AppId::new(reserved).unwrap().is_reserved(), "{reserved}");
        }
        for free in ["systemd", "com.system.x", "system-x", "uids"] {
            assert!(!AppId::new(free).unwrap().is_reserved(), "{free}");
        }
        assert_eq!(AppId::new("system").unwrap().service_name(), None);
        let longest = Label::new("a".repeat(SERVICE_NAME_MAX_LEN)).unwrap();
        assert!(AppId::service(&longest).is_some());
        let too_long = Label::new("a".repeat(SERVICE_NAME_MAX_LEN + 1)).unwrap();
        assert!(AppId::service(&too_long).is_none());
    }
}
