//! The key backend: everything attestd needs from the keystore, as one
//! small trait with two implementations — [`crate::LocalBackend`] over an
//! in-process `keystore::KeyStore` (host tests, benches) and
//! [`crate::RemoteBackend`] over the wire to keystored (the daemon).
//!
//! The device keys live in attestd's own key namespace (`system.attestd`
//! for `system:attestd`), purpose `device-attest`: `device`, and, if it
//! ever had to be replaced (`device.rs`), `device-2`, `device-3`, …. The
//! backend acts on them by name; which one is current is `device.rs`'s
//! decision.
//!
//! Invariants every implementation keeps:
//! - No private key byte passes through it: the device key signs inside
//!   keymint, reached through the keystore's ordinary `sign`, with the
//!   keystore's ordinary checks (namespace, `identity.key.sign`). No other
//!   subject can use these keys: they are in attestd's namespace.
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
use nexus_core::{AppId, Label};

/// `purpose` of the device attestation keys (in attestd's own namespace).
pub const DEVICE_KEY_PURPOSE: &str = keystore::namespaces::DEVICE_ATTEST_PURPOSE;
/// `name` of the first device attestation key.
pub const DEVICE_KEY_NAME: &str = "device";

/// The device attestation key `name` in namespace `app`
/// (`system.attestd/device-attest/device` for the first).
pub fn device_key_name(app: &AppId, name: &Label) -> Result<KeyName, AttestError> {
    Ok(KeyName::parse(
        app.as_str(),
        DEVICE_KEY_PURPOSE,
        name.as_str(),
    )?)
}

/// One device key of attestd's namespace, as the keystore lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKeyEntry {
    /// Its full name.
    pub key: KeyName,
    /// `Some(why)` if its record cannot be read (the record's path and the
    /// reason).
    pub damaged: Option<String>,
}

/// One version of the device attestation key: what a verifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    /// Which device key (`system.attestd/device-attest/device`, …).
    pub key: KeyName,
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

/// What attestd asks of the keystore. `name` is a device key's name in
/// attestd's own namespace (purpose [`DEVICE_KEY_PURPOSE`]).
pub trait KeyBackend: Send + Sync {
    /// Every device key of attestd's namespace, readable or damaged.
    fn device_keys(&self) -> Result<Vec<DeviceKeyEntry>, AttestError>;
    /// Create device key `name` (Ed25519) and return its version 1.
    fn create_device_key(&self, name: &Label) -> Result<DeviceKey, AttestError>;
    /// Device key `name`'s primary version: `ENOENT` if there is none,
    /// `EKEYREVOKED` if it or its primary version is revoked or retired,
    /// `EIO` naming the record if that is damaged.
    fn device_key(&self, name: &Label) -> Result<DeviceKey, AttestError>;
    /// Add a version to device key `name` and make it primary; older
    /// versions keep verifying until retired.
    fn rotate_device_key(&self, name: &Label) -> Result<DeviceKey, AttestError>;
    /// Sign `msg` (a COSE Sig_structure) with device key `name`'s primary
    /// version, inside keymint.
    fn sign_with_device_key(
        &self,
        name: &Label,
        msg: &[u8],
    ) -> Result<DeviceSignature, AttestError>;
    /// The public key and kid of the primary version of `key`. Fails with
    /// `EKEYREVOKED` for a revoked key or primary version, `EINVAL` for a
    /// key that is not Ed25519.
    fn attested_key(&self, key: &KeyName) -> Result<AttestedKey, AttestError>;
    /// [`KeyBackend::sign_with_device_key`] and [`KeyBackend::attested_key`]
    /// of `attested` as the keystore has it when it signs: the read comes
    /// first, and if it fails nothing is signed. `known` is what the caller
    /// read before; an implementation may return it instead of parsing an
    /// identical answer again. The default makes the two calls; the remote
    /// backend makes one (`key.sign` with `show`).
    fn sign_attesting(
        &self,
        name: &Label,
        msg: &[u8],
        attested: &KeyName,
        _known: &AttestedKey,
    ) -> Result<(DeviceSignature, AttestedKey), AttestError> {
        let now = self.attested_key(attested)?;
        Ok((self.sign_with_device_key(name, msg)?, now))
    }
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
