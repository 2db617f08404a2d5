//! Session ids: 128 random bits, shown as 32 lowercase hex digits.
//!
//! A session id selects a session; it never grants anything by itself: the
//! caller's subject still comes from its channel.

use crate::hex16::hex16_id;
use std::fmt;

hex16_id!(
    /// An opaque session id.
    SessionId,
    /// A string that is not 32 hex digits.
    SessionIdParseError,
    "a session id is 32 hex digits"
);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a prefix: enough to correlate, not enough to reuse.
        write!(f, "SessionId({:02x}{:02x}…)", self.0[0], self.0[1])
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
