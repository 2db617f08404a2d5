//! Who makes a minisign signature: a secret key in memory
//! ([`MinisignSecretKey`]) or a key held elsewhere (a keystore key, signed
//! through keystored), behind one trait, and the BLAKE2b-512 prehash that
//! minisign signs.
//!
//! Invariants: a signer signs only what it is given (the 64-byte digest
//! for the message signature, `sig || trusted comment` for the global
//! one); [`MinisignSignature::sign_digest_with`] checks both signatures
//! against the signer's public key before returning, so a signer that
//! answers with another key's signature is caught here, not by a
//! verifier later.

use super::keys::{MinisignKeyId, MinisignSecretKey};
use super::MinisignError;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, VerifyingKey};
use nexus_core::{Coded, ErrorCode};
use std::io::Read;

/// The length of minisign's prehash (BLAKE2b-512).
pub const DIGEST_LEN: usize = 64;

/// BLAKE2b-512 of `msg`: what a minisign `ED` signature signs.
pub fn digest(msg: &[u8]) -> [u8; DIGEST_LEN] {
    Blake2b512::digest(msg).into()
}

/// BLAKE2b-512 of everything `r` yields, read in 64 KiB pieces: a message
/// of any size, in constant memory.
pub fn digest_reader(mut r: impl Read) -> std::io::Result<[u8; DIGEST_LEN]> {
    let mut h = Blake2b512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(h.finalize().into()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Why a signer could not sign: its own stable code and words (for a
/// keystore key, keystored's refusal or the transport failure). Never
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct SignerError {
    /// The stable code.
    pub code: ErrorCode,
    /// What happened.
    pub msg: String,
}

impl Coded for SignerError {
    fn code(&self) -> ErrorCode {
        self.code
    }
}

/// A key that makes minisign signatures.
pub trait MinisignSigner {
    /// The key number written into signatures (see
    /// [`MinisignKeyId::from_kid`] for keys that have none of their own).
    fn key_id(&self) -> MinisignKeyId;
    /// The public key the signatures must verify with.
    fn verifying_key(&self) -> VerifyingKey;
    /// Ed25519 over the 64-byte BLAKE2b-512 digest of the message.
    fn sign_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<Signature, SignerError>;
    /// Ed25519 over `msg` as it is (the global signature's input).
    fn sign_message(&self, msg: &[u8]) -> Result<Signature, SignerError>;
}

impl MinisignSigner for MinisignSecretKey {
    fn key_id(&self) -> MinisignKeyId {
        MinisignSecretKey::key_id(self)
    }

    fn verifying_key(&self) -> VerifyingKey {
        *self.public_key().verifying_key()
    }

    fn sign_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<Signature, SignerError> {
        Ok(self.sign_raw(digest))
    }

    fn sign_message(&self, msg: &[u8]) -> Result<Signature, SignerError> {
        Ok(self.sign_raw(msg))
    }
}

impl From<SignerError> for MinisignError {
    fn from(e: SignerError) -> MinisignError {
        MinisignError::Signer(e)
    }
}
