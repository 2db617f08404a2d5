//! attestd: attestation tokens and the device attestation key.
//!
//! Retry class: `attest` and `attest.device_key` are retried after a
//! lost connection ([`Retry::Idempotent`]) (a second token for the same nonce is as good as the
//! first, and nothing is stored); `attest.rotate_device_key` is sent once.
//!
//! Custom claims travel as the CBOR map `{label: value}` with the integer
//! labels and values of `eat::CustomClaims`, which already enforces the
//! profile's bounds (labels ≤ -65538, at most 16, values ≤ 256 bytes).

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::reply::ReplyMap;
use crate::service::Retry;
use eat::{CustomClaims, CustomValue};
use keymint::kid::Kid;
use nexus_core::Label;
use wire::{Args, Value};

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

impl DeviceKey {
    fn read(mut r: ReplyMap) -> Result<DeviceKey, KeychainError> {
        Ok(DeviceKey {
            public_key: r.bytes("public_key")?,
            kid: r.kid("kid")?,
            version: r.u64("version")?,
        })
    }
}

/// The CBOR form of custom claims sent to attestd.
pub fn claims_value(claims: &CustomClaims) -> Value {
    Value::Map(
        claims
            .iter()
            .map(|(label, v)| {
                let value = match v {
                    CustomValue::Int(i) => Value::Integer((*i).into()),
                    CustomValue::Bool(b) => Value::Bool(*b),
                    CustomValue::Text(t) => Value::Text(t.clone()),
                    CustomValue::Bytes(b) => Value::Bytes(b.clone()),
                };
                (Value::Integer(label.into()), value)
            })
            .collect(),
    )
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
        let mut args = Args::new()
            .with("purpose", purpose.as_str())
            .with("name", name.as_str())
            .with("nonce", Value::Bytes(nonce.to_vec()));
        if !claims.is_empty() {
            args = args.with("claims", claims_value(claims));
        }
        let mut r = self.attestd.call_map("attest", &args, Retry::Idempotent)?;
        Ok(Token {
            token: r.bytes("token")?,
            device_kid: r.kid("device_kid")?,
        })
    }

    /// `attest.device_key`: the public key tokens are signed with.
    pub fn device_key(&self) -> Result<DeviceKey, KeychainError> {
        DeviceKey::read(self.attestd.call_map(
            "attest.device_key",
            &Args::new(),
            Retry::Idempotent,
        )?)
    }

    /// `attest.rotate_device_key` (system callers only).
    pub fn rotate_device_key(&self) -> Result<DeviceKey, KeychainError> {
        DeviceKey::read(self.attestd.call_map(
            "attest.rotate_device_key",
            &Args::new(),
            Retry::Once,
        )?)
    }
}
