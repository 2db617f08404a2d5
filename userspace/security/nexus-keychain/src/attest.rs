//! attestd: attestation tokens and the device attestation key.
//!
//! Retry class: `attest` and `attest.device_key` are retried after a
//! lost connection ([`Retry::Idempotent`]) (a second token for the same nonce is as good as the
//! first, and nothing is stored); `attest.rotate_device_key` is sent once.
//!
//! Custom claims travel as the CBOR map `{label: value}` with the integer
//! labels and values of [`CustomClaims`], which already enforces the
//! profile's bounds (labels ≤ -65538, at most 16, values ≤ 256 bytes).

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::service::Retry;
use nexus_core::{CustomClaims, Kid, Label};
use nexus_proto::{self as proto, AttestArgs, Bytes, DeviceKeyReply, Empty};
use wire::Value;

/// A token from `attest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The tagged COSE_Sign1 token (docs/identity/attestation.md).
    pub token: Vec<u8>,
    /// The kid of the device key that signed it.
    pub device_kid: Kid,
}

/// The device attestation public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Its kid.
    pub kid: Kid,
    /// Its version in the keystore.
    pub version: u64,
}

impl From<DeviceKeyReply> for DeviceKey {
    fn from(r: DeviceKeyReply) -> DeviceKey {
        DeviceKey {
            public_key: r.public_key.into_vec(),
            kid: r.kid,
            version: u64::from(r.version),
        }
    }
}

/// The CBOR form of custom claims sent to attestd: the map of integer
/// labels to values.
pub fn claims_value(claims: &CustomClaims) -> Value {
    // Encoding a map of integers, booleans, text and bytes cannot fail;
    // should it ever, the empty map says "no claims" rather than panic.
    Value::serialized(claims).unwrap_or_else(|_| Value::Map(Vec::new()))
}

impl Keychain {
    /// `attest`: a token attesting the caller's key `(purpose, name)`,
    /// fresh for `nonce` (8..=64 bytes), with optional custom claims. The
    /// app id in the token comes from the caller's channel.
    pub fn attest(
        &self,
        purpose: &Label,
        name: &Label,
        nonce: &[u8],
        claims: &CustomClaims,
    ) -> Result<Token, KeychainError> {
        let args = AttestArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            nonce: Bytes::from(nonce),
            claims: (!claims.is_empty()).then(|| claims.clone()),
            app: None,
        };
        let r = self
            .attestd
            .call_op::<proto::Attest>(&args, Retry::Idempotent)?;
        Ok(Token {
            token: r.token.into_vec(),
            device_kid: r.device_kid,
        })
    }

    /// `attest.device_key`: the public key tokens are signed with.
    pub fn device_key(&self) -> Result<DeviceKey, KeychainError> {
        let r = self
            .attestd
            .call_op::<proto::AttestDeviceKey>(&Empty {}, Retry::Idempotent)?;
        Ok(r.into())
    }

    /// `attest.rotate_device_key` (system callers only).
    pub fn rotate_device_key(&self) -> Result<DeviceKey, KeychainError> {
        let r = self
            .attestd
            .call_op::<proto::AttestRotateDeviceKey>(&Empty {}, Retry::Once)?;
        Ok(r.into())
    }
}
