//! Bringing an existing private key into keymint: the one way material
//! that keymint did not generate becomes a wrapped key.
//!
//! Invariants: the imported seed lives only in [`Ed25519Seed`] (no Debug,
//! no Clone, zeroized on drop) until keymint wraps it; only Ed25519 seeds
//! are accepted (a data key has no outside format worth importing); the
//! wrapped blob is the same as a generated key's, bound to the same
//! identity, so an imported key is used, rotated, revoked and exported
//! exactly like any other and no operation ever returns the seed.

use crate::error::KeyMintError;
use zeroize::Zeroizing;

/// An Ed25519 private key as RFC 8032 defines it: the 32-byte seed.
/// Secret: no Debug, no Clone, zeroized on drop.
pub struct Ed25519Seed(Zeroizing<[u8; 32]>);

impl Ed25519Seed {
    /// Copy exactly 32 bytes into a new seed (`EINVAL` for any other
    /// length). The caller wipes its own copy.
    pub fn from_slice(bytes: &[u8]) -> Result<Ed25519Seed, KeyMintError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        if bytes.len() != seed.len() {
            return Err(KeyMintError::Invalid("an Ed25519 private key is 32 bytes"));
        }
        seed.copy_from_slice(bytes);
        Ok(Ed25519Seed(seed))
    }

    /// The seed, to wrap it or to hand it to keymintd over its private
    /// endpoint. Never log, compare or store it.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    #[test]
    fn test_reject_seed_of_the_wrong_length() {
        for len in [0, 31, 33, 64] {
            let e = Ed25519Seed::from_slice(&vec![7u8; len]).err().unwrap();
            assert_eq!(e.code(), ErrorCode::Einval, "{len}");
        }
        let s = Ed25519Seed::from_slice(&[9u8; 32]).unwrap();
        assert_eq!(s.expose_secret(), &[9u8; 32]);
    }
}
