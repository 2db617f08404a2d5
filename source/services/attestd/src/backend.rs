//! The key backend: everything attestd needs from the keystore, as one
//! small trait with two implementations — [`crate::LocalBackend`] over an
//! in-process `keystore::KeyStore` (host tests, benches) and
//! [`crate::RemoteBackend`] over the wire to keystored (the daemon).
//!
//! Invariants every implementation keeps:
//! - No private key byte passes through it: the device key signs inside
//!   keymint, reached through the keystore's ordinary `sign`, with the
//!   keystore's ordinary checks (namespace, `identity.key.sign`).
//! - Every public key it returns has been parsed strictly (canonical, not of
//!   small order) and its kid recomputed and compared; a backend that
//!   cannot do that refuses (`EIO`), it never passes a key on unchecked.
//! - The attested key is read with the public-metadata read the keystore
//!   grants system subjects; which key may be read is attestd's decision
//!   (the caller's own namespace), made before the backend is asked.

use crate::error::AttestError;
use ed25519_dalek::VerifyingKey;
use keymint::kid::{ed25519_kid, Kid};
use keystore::KeyName;
use nexus_core::AppId;

/// `purpose` of the device attestation key (in app namespace `system`).
pub const DEVICE_KEY_PURPOSE: &str = "device-attest";
/// `name` of the device attestation key.
pub const DEVICE_KEY_NAME: &str = "device";

/// The device attestation key's name: `system/device-attest/device`.
pub fn device_key_name() -> Result<KeyName, AttestError> {
    Ok(KeyName::parse(
        AppId::system().as_str(),
        DEVICE_KEY_PURPOSE,
        DEVICE_KEY_NAME,
    )?)
}

/// One version of the device attestation key: what a verifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    /// The Ed25519 public key.
    pub public: VerifyingKey,
    /// Its RFC 9679 thumbprint (the `kid` in every token it signs).
    pub kid: Kid,
    /// The keystore version number.
    pub version: u32,
}

/// The public half of the key being attested (the primary version of the
/// caller's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedKey {
    /// The Ed25519 public key (goes into `cnf`).
    pub public: VerifyingKey,
    /// Its RFC 9679 thumbprint.
    pub kid: Kid,
    /// The keystore version number.
    pub version: u32,
}

/// A signature by the device key and the version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSignature {
    /// The Ed25519 signature.
    pub signature: [u8; 64],
    /// The kid of the version that signed.
    pub kid: Kid,
    /// That version's number.
    pub version: u32,
}

/// Facts about the keystore side that the service reports in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendInfo {
    /// This device's id (keymint's; stable for the device's life).
    pub device_id: [u8; 32],
    /// Keys live only in memory: nothing survives a restart.
    pub volatile: bool,
    /// keymint runs on the deterministic test generator.
    pub insecure: bool,
}

/// What attestd asks of the keystore.
pub trait KeyBackend: Send + Sync {
    /// The device key's primary version, creating the key (Ed25519) if it
    /// does not exist yet.
    fn ensure_device_key(&self) -> Result<DeviceKey, AttestError>;
    /// The device key's primary version.
    fn device_key(&self) -> Result<DeviceKey, AttestError>;
    /// Add a device key version and make it primary; older versions keep
    /// verifying until retired.
    fn rotate_device_key(&self) -> Result<DeviceKey, AttestError>;
    /// Sign `msg` (a COSE Sig_structure) with the device key's primary
    /// version, inside keymint.
    fn sign_with_device_key(&self, msg: &[u8]) -> Result<DeviceSignature, AttestError>;
    /// The public key and kid of the primary version of `key`. Fails with
    /// `EKEYREVOKED` for a revoked key or primary version, `EINVAL` for a
    /// key that is not Ed25519.
    fn attested_key(&self, key: &KeyName) -> Result<AttestedKey, AttestError>;
    /// Device id and modes.
    fn info(&self) -> Result<BackendInfo, AttestError>;
}

/// Parse a public key that came from the keystore and check it against the
/// kid the keystore stated; `what` names it in the error.
pub(crate) fn checked_public(
    public: &[u8],
    kid: &Kid,
    what: &'static str,
) -> Result<VerifyingKey, AttestError> {
    let vk =
        keymint::ed25519::parse_public_key(public).map_err(|_| AttestError::BadUpstream(what))?;
    if &ed25519_kid(&vk) != kid {
        return Err(AttestError::BadUpstream(what));
    }
    Ok(vk)
}
