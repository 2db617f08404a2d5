//! Prehashed signatures: Ed25519 over the 64-byte BLAKE2b-512 digest of a
//! message, computed by the client. This is minisign's `ED` signature, so
//! the stock `minisign -V` verifies it; the message itself can be of any
//! size and never reaches the keystore.
//!
//! Such a signature is, by construction, also a plain Ed25519 signature
//! over the 64 digest bytes. Why that is safe here (written down in
//! docs/identity/keystore.md, "Prehashed signatures"): the caller who may
//! ask for a prehashed signature may ask for a plain one over the same
//! 64 bytes (same key, same `identity.key.sign`, same namespace), so the
//! mode adds no signing power; turning a plain signature into a prehashed
//! one of a chosen message needs a BLAKE2b-512 preimage.
//!
//! Invariants: the digest is exactly [`PREHASH_LEN`] bytes (anything else
//! is `EINVAL` before any other check); everything else (access, version
//! selection, strict verification) is the plain operation's.

use crate::error::KeystoreError;
use crate::model::{KeyName, KeySelector, SignOutput};
use crate::store::KeyStore;
use nexus_core::{Authorizer, Subject};

/// The length of a prehash digest (BLAKE2b-512).
pub const PREHASH_LEN: usize = 64;

/// How a prehashed message was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prehash {
    /// BLAKE2b-512 (RFC 7693), as minisign hashes.
    Blake2b512,
}

fn digest(d: &[u8]) -> Result<&[u8], KeystoreError> {
    if d.len() == PREHASH_LEN {
        Ok(d)
    } else {
        Err(KeystoreError::Invalid(
            "a prehashed message is its 64-byte BLAKE2b-512 digest",
        ))
    }
}

impl KeyStore {
    /// Sign the digest of a message hashed with `prehash` (primary
    /// version). The output names the version and kid used.
    pub fn sign_prehashed(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        prehash: Prehash,
        digest_bytes: &[u8],
    ) -> Result<SignOutput, KeystoreError> {
        let Prehash::Blake2b512 = prehash;
        self.sign(subject, authz, key, digest(digest_bytes)?)
    }

    /// Verify a prehashed signature over `digest_bytes` with the version
    /// `by` names; as [`KeyStore::verify`].
    pub fn verify_prehashed(
        &self,
        subject: &Subject,
        key: &KeyName,
        by: KeySelector,
        prehash: Prehash,
        digest_bytes: &[u8],
        signature: &[u8],
    ) -> Result<u32, KeystoreError> {
        let Prehash::Blake2b512 = prehash;
        self.verify(subject, key, by, digest(digest_bytes)?, signature)
    }
}
