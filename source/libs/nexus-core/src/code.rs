//! Stable error codes: the only error vocabulary that crosses a process
//! boundary. Every domain error enum maps itself onto one of these through
//! [`Coded`]; the names and their meanings never change once shipped.

use std::fmt;
use std::str::FromStr;

/// A stable, wire-visible error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The caller is not allowed to do this, or authentication failed.
    Eperm,
    /// The named object does not exist (or is invisible to the caller).
    Enoent,
    /// The object already exists.
    Ealready,
    /// The key, or the key version used, is revoked or retired.
    Ekeyrevoked,
    /// A hard quota would be exceeded.
    Edquota,
    /// The vault or session is locked or not unsealed. Never "not found".
    Elocked,
    /// The request is malformed or an argument is out of range.
    Einval,
    /// The resource is busy; try again.
    Ebusy,
    /// Throttled: try again after the delay given in the message.
    Eagain,
    /// Storage or integrity failure (corrupt record, failed write, bad MAC).
    Eio,
}

impl ErrorCode {
    /// Every code, in a fixed order (documentation and exhaustive tests).
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::Eperm,
        ErrorCode::Enoent,
        ErrorCode::Ealready,
        ErrorCode::Ekeyrevoked,
        ErrorCode::Edquota,
        ErrorCode::Elocked,
        ErrorCode::Einval,
        ErrorCode::Ebusy,
        ErrorCode::Eagain,
        ErrorCode::Eio,
    ];

    /// The code as it appears on the wire and in CLI output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Eperm => "EPERM",
            ErrorCode::Enoent => "ENOENT",
            ErrorCode::Ealready => "EALREADY",
            ErrorCode::Ekeyrevoked => "EKEYREVOKED",
            ErrorCode::Edquota => "EDQUOTA",
            ErrorCode::Elocked => "ELOCKED",
            ErrorCode::Einval => "EINVAL",
            ErrorCode::Ebusy => "EBUSY",
            ErrorCode::Eagain => "EAGAIN",
            ErrorCode::Eio => "EIO",
        }
    }

    /// The process exit status the `nx` CLI uses for this code (stable).
    pub fn exit_status(self) -> u8 {
        match self {
            ErrorCode::Eperm => 10,
            ErrorCode::Enoent => 11,
            ErrorCode::Ealready => 12,
            ErrorCode::Ekeyrevoked => 13,
            ErrorCode::Edquota => 14,
            ErrorCode::Elocked => 15,
            ErrorCode::Einval => 16,
            ErrorCode::Ebusy => 17,
            ErrorCode::Eagain => 18,
            ErrorCode::Eio => 19,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no known error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code")]
pub struct UnknownErrorCode;

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownErrorCode)
    }
}

/// A domain error that knows its stable wire code.
pub trait Coded {
    /// The stable code this error maps to.
    fn code(&self) -> ErrorCode;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_exit_statuses_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>(), Ok(c));
            assert!(seen.insert(c.exit_status()));
        }
    }

    #[test]
    fn test_reject_unknown_code() {
        assert_eq!("ENOPE".parse::<ErrorCode>(), Err(UnknownErrorCode));
        assert_eq!("eperm".parse::<ErrorCode>(), Err(UnknownErrorCode));
    }
}
