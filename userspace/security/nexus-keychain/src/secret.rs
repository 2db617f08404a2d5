//! Secret bytes handed back to the caller (vault values, unsealed
//! plaintexts). (Secret arguments going out travel in `nexus-proto`'s
//! zeroizing types; the encoded request wipes itself when dropped.)
//!
//! Invariants: [`SecretBytes`] has no `Debug`, no `Clone`, no `Display`;
//! it is zeroized on drop and compared in constant time. The bytes are
//! moved out of the decoded reply's zeroizing field without a copy; the
//! reply's CBOR value is wiped once decoded.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes: a vault value or an unsealed plaintext.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Take ownership of `bytes`, which will be zeroized on drop.
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The bytes. Keep the borrow short; do not copy them into a type that
    /// does not zeroize.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other`.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.len() == other.len() && bool::from(self.0.as_slice().ct_eq(other))
    }
}

/// A secret from a decoded reply, moved without a copy.
impl From<nexus_proto::Secret> for SecretBytes {
    fn from(s: nexus_proto::Secret) -> SecretBytes {
        SecretBytes(s.into_zeroizing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_compares_in_constant_time_and_by_length() {
        let s = SecretBytes::new(b"hunter2".to_vec());
        assert!(s.ct_eq(b"hunter2"));
        assert!(!s.ct_eq(b"hunter3"));
        assert!(!s.ct_eq(b"hunter"));
        assert_eq!(s.len(), 7);
        assert!(!s.is_empty());
    }
}
