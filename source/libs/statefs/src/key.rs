//! The MAC key of a state root (and of records shared between daemons).
//!
//! keymintd derives one per calling service from the device secret
//! (`km.state_key`, HKDF-SHA256 with the subject in `info`) and one for the
//! trust store (`km.trust_key`); the daemon holds it for its life.
//! Invariants: no Debug, no Clone, zeroized on drop; MACs are compared in
//! constant time; every MAC is domain-separated by a label naming its use.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A 32-byte HMAC-SHA256 key.
pub struct StateKey(Zeroizing<[u8; 32]>);

impl StateKey {
    /// Take ownership of key bytes (the caller's copy should be zeroized).
    pub fn new(bytes: Zeroizing<[u8; 32]>) -> StateKey {
        StateKey(bytes)
    }

    /// A key from a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<StateKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(StateKey(Zeroizing::new(arr)))
    }

    /// HMAC-SHA256 over `label`, a NUL, then each part in order.
    pub fn mac(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes keys of any length; 32 bytes never fails.
        let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice()) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        m.update(label.as_bytes());
        m.update(&[0]);
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts` (constant time).
    pub fn verify(&self, label: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
        let want = self.mac(label, parts);
        tag.len() == 32 && bool::from(want.ct_eq(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_keyed_and_labelled() {
        let a = StateKey::new(Zeroizing::new([1; 32]));
        let b = StateKey::new(Zeroizing::new([2; 32]));
        let t = a.mac("x", &[b"data"]);
        assert!(a.verify("x", &[b"data"], &t));
        assert!(!b.verify("x", &[b"data"], &t));
        assert!(!a.verify("y", &[b"data"], &t));
        assert!(!a.verify("x", &[b"dat", b"b"], &t));
        assert!(!a.verify("x", &[b"data"], &t[..31]));
        // Parts are concatenated: the label's NUL separates label and data.
        assert_eq!(a.mac("x", &[b"da", b"ta"]), t);
        assert!(StateKey::from_slice(&[0; 31]).is_none());
    }
}
