//! The claims a token carries, as types that hold the profile's invariants
//! from construction: a [`Nonce`] is 8..=64 bytes, a [`Ueid`] is a RAND
//! UEID, [`SwVersion`] and the custom claims ([`CustomClaims`], defined in
//! `nexus_core` because they are also an `attest` argument) are bounded, app ids and
//! software names are validated `nexus_core` identifiers. Nothing here is
//! secret: the attested and device keys are public keys.

use crate::{EatError, NONCE_MAX_LEN, NONCE_MIN_LEN};
use ed25519_dalek::VerifyingKey;
use nexus_core::{AppId, Label};
pub use nexus_core::{CustomClaims, CustomValue};

/// A verifier-chosen freshness value, 8..=64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(Vec<u8>);

impl Nonce {
    /// Accept `bytes` if 8..=64 bytes long.
    pub fn new(bytes: &[u8]) -> Result<Self, EatError> {
        if (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&bytes.len()) {
            Ok(Nonce(bytes.to_vec()))
        } else {
            Err(EatError::NonceLength)
        }
    }

    /// The nonce bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The device's Universal Entity ID: type 0x01 (RAND) followed by 32
/// random bytes drawn once when the device is provisioned (RFC 9711 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ueid([u8; 32]);

impl Ueid {
    /// The UEID type byte for a random id.
    pub const TYPE_RAND: u8 = 0x01;
    /// Encoded length: the type byte and 32 random bytes.
    pub const LEN: usize = 33;

    /// A RAND UEID from 32 random bytes.
    pub fn from_random(random: [u8; 32]) -> Self {
        Ueid(random)
    }

    /// Parse the 33-byte claim value; only RAND UEIDs of 32 bytes are part
    /// of the profile.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes.split_first() {
            Some((&Self::TYPE_RAND, rest)) => rest.try_into().ok().map(Ueid),
            _ => None,
        }
    }

    /// The 32 random bytes.
    pub fn random_part(&self) -> &[u8; 32] {
        &self.0
    }

    /// The claim value: type byte then the random bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = Self::TYPE_RAND;
        out[1..].copy_from_slice(&self.0);
        out
    }
}

/// A software version string: 1..=64 bytes of `[0-9A-Za-z.+-]` starting
/// with a digit (semantic versions such as `1.4.0-rc.1+build.7` fit). The
/// charset keeps the value safe to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwVersion(String);

impl SwVersion {
    /// Longest accepted version string, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Validate and wrap `s`.
    pub fn new(s: impl Into<String>) -> Result<Self, EatError> {
        let s = s.into();
        let b = s.as_bytes();
        let ok = b.first().is_some_and(u8::is_ascii_digit)
            && b.len() <= Self::MAX_LEN
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'));
        if ok {
            Ok(SwVersion(s))
        } else {
            Err(EatError::ClaimValue)
        }
    }

    /// The version string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything a token states. The same type is the input of
/// [`crate::sign_token`] and part of what [`crate::verify_token`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Issued-at, seconds since the Unix epoch.
    pub iat: u64,
    /// The verifier's nonce.
    pub nonce: Nonce,
    /// The device id.
    pub ueid: Ueid,
    /// The key being attested (goes into `cnf`).
    pub attested_key: VerifyingKey,
    /// The calling app, as bound by the attesting service from its channel.
    pub app_id: AppId,
    /// The attesting software's name.
    pub swname: Label,
    /// The attesting software's version.
    pub swversion: SwVersion,
    /// Extra claims at private labels.
    pub custom: CustomClaims,
}
