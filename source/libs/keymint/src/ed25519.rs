//! Ed25519 public-key handling shared by every verifier in the system.
//!
//! Invariants: a [`VerifyingKey`] obtained here is canonical and not of
//! small order, and every verification uses `verify_strict` (which also
//! rejects non-canonical signatures and small-order R).

use ed25519_dalek::{Signature, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};
use nexus_core::{Coded, ErrorCode};

/// Why bytes are not an acceptable Ed25519 public key or signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    /// Not 32 bytes (or a signature not 64 bytes).
    #[error("wrong length")]
    Length,
    /// Not a valid point, or not its canonical encoding.
    #[error("not a canonical Ed25519 point")]
    NonCanonical,
    /// A small-order ("weak") key, which would verify forged signatures.
    #[error("weak (small-order) Ed25519 key")]
    Weak,
}

impl Coded for PublicKeyError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// The signature did not verify. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature verification failed")]
pub struct BadSignature;

impl Coded for BadSignature {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eperm
    }
}

/// Parse a public key, refusing wrong lengths, non-canonical encodings and
/// small-order points.
pub fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, PublicKeyError> {
    let arr: [u8; PUBLIC_KEY_LENGTH] = bytes.try_into().map_err(|_| PublicKeyError::Length)?;
    let key = VerifyingKey::from_bytes(&arr).map_err(|_| PublicKeyError::NonCanonical)?;
    // from_bytes accepts non-canonical y encodings (y >= p) and keeps the
    // caller's bytes: `VerifyingKey::to_bytes` returns them unchanged, so
    // only a re-compression of the decoded point shows the canonical form.
    if key.to_edwards().compress().to_bytes() != arr {
        return Err(PublicKeyError::NonCanonical);
    }
    if key.is_weak() {
        return Err(PublicKeyError::Weak);
    }
    Ok(key)
}

/// Parse a 64-byte signature.
pub fn parse_signature(bytes: &[u8]) -> Result<Signature, PublicKeyError> {
    let arr: [u8; SIGNATURE_LENGTH] = bytes.try_into().map_err(|_| PublicKeyError::Length)?;
    Ok(Signature::from_bytes(&arr))
}

/// Strict verification: the only way this system checks an Ed25519
/// signature.
pub fn verify(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> Result<(), BadSignature> {
    key.verify_strict(msg, sig).map_err(|_| BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y + p` as 32 little-endian bytes (sign bit clear), for y < 19.
    fn y_plus_p(y: u8) -> [u8; 32] {
        let mut b = [0xffu8; 32];
        b[0] = 0xed + y;
        b[31] = 0x7f;
        b
    }

    #[test]
    fn test_reject_non_canonical_y_encodings_that_decode() {
        // y = 3 + p decodes to a valid point (the one with y = 3), so
        // from_bytes accepts it; only its canonical encoding may pass.
        let nc = y_plus_p(3);
        let decoded = VerifyingKey::from_bytes(&nc).expect("y = 3 is on the curve");
        assert_eq!(decoded.to_bytes(), nc, "dalek hands the input back");
        assert_eq!(parse_public_key(&nc), Err(PublicKeyError::NonCanonical));
        // Every y + p that decodes at all is refused, canonical twin or not.
        for y in 0..19u8 {
            let nc = y_plus_p(y);
            if VerifyingKey::from_bytes(&nc).is_ok() {
                assert!(parse_public_key(&nc).is_err(), "y = {y} + p");
            }
        }
        // The canonical encoding of the same point is accepted (it is not
        // of small order).
        let mut canonical = [0u8; 32];
        canonical[0] = 3;
        assert!(parse_public_key(&canonical).is_ok());
    }

    #[test]
    fn test_reject_weak_and_malformed_keys() {
        // The identity point (0, 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(parse_public_key(&identity), Err(PublicKeyError::Weak));
        assert_eq!(parse_public_key(&[0u8; 31]), Err(PublicKeyError::Length));
        assert_eq!(parse_public_key(&[0u8; 33]), Err(PublicKeyError::Length));
        // y = p (2^255 - 19) is a non-canonical encoding of y = 0.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xed;
        non_canonical[31] = 0x7f;
        assert!(parse_public_key(&non_canonical).is_err());
        assert_eq!(parse_signature(&[0u8; 63]), Err(PublicKeyError::Length));
    }
}
