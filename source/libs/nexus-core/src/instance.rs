//! User instance ids: 128 random bits minted when a user is created,
//! shown as 32 lowercase hex digits.
//!
//! A user name can be deleted and created again; an instance cannot.
//! Everything a user owns (vault file, vault key binding, unsealed
//! session keys, caches, throttle records) is keyed by the instance, so
//! nothing of a deleted user can reach a new user of the same name.
//! Instance ids are not secret.

use crate::hex16::hex16_id;
use std::fmt;

hex16_id!(
    /// One user's instance id.
    InstanceId,
    /// A string that is not 32 hex digits.
    InstanceIdParseError,
    "an instance id is 32 hex digits"
);

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({self})")
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
