//! The key model: names, lifecycle states, per-version metadata, and the
//! values operations return.
//!
//! Invariants kept by [`KeyRecord`] (checked on every load, see
//! `record.rs`): versions are numbered 1..=n without gaps;
//! `1 <= min_version <= primary <= n`; versions below `min_version` are
//! retired or revoked; only active versions hold wrapped material; Ed25519
//! versions carry a public key and kid, sealing versions carry neither.

use crate::error::KeystoreError;
use ed25519_dalek::VerifyingKey;
use keymint::kid::Kid;
use keymint::{Algorithm, KeyIdentity, WrappedKey};
use nexus_core::{AppId, Label};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// A key's name: `(appId, purpose, name)`. Each part is a validated id
/// (`[A-Za-z0-9._-]`, starting with a letter or digit, at most 64 bytes),
/// so it is also a safe `state:/` path segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName {
    /// The owning app namespace.
    pub app: AppId,
    /// What the key is for, e.g. `device-attest`.
    pub purpose: Label,
    /// The key's name within app and purpose.
    pub name: Label,
}

impl KeyName {
    /// A name from validated parts.
    pub fn new(app: AppId, purpose: Label, name: Label) -> Self {
        KeyName { app, purpose, name }
    }

    /// Parse the three parts; a bad part is `EINVAL`.
    pub fn parse(app: &str, purpose: &str, name: &str) -> Result<Self, KeystoreError> {
        let bad = |_| KeystoreError::Invalid("key names use [A-Za-z0-9._-], at most 64 bytes");
        Ok(KeyName {
            app: AppId::new(app).map_err(bad)?,
            purpose: Label::new(purpose).map_err(bad)?,
            name: Label::new(name).map_err(bad)?,
        })
    }

    /// The identity keymint binds version `version` to.
    pub fn identity(&self, version: u32, alg: Algorithm) -> KeyIdentity {
        KeyIdentity {
            app: self.app.clone(),
            purpose: self.purpose.clone(),
            name: self.name.clone(),
            version,
            alg,
        }
    }
}

/// `app/purpose/name`: the authorization target and the name in messages.
impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.app, self.purpose, self.name)
    }
}

/// A key's lifecycle state. `Revoked` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Usable, subject to each version's state.
    Active,
    /// Every use fails with `EKEYREVOKED`; the name stays taken.
    Revoked,
}

/// A version's lifecycle state. `Retired` and `Revoked` are final (a
/// retired version may still be marked revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionState {
    /// Usable; the primary version also signs and seals.
    Active,
    /// Below the key's minimum version; material deleted.
    Retired,
    /// Revoked; material deleted.
    Revoked,
}

/// What a key may be used for; follows from its algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Ed25519: sign (primary version).
    Sign,
    /// Ed25519: verify (any active version).
    Verify,
    /// XChaCha20-Poly1305: seal (primary version).
    Seal,
    /// XChaCha20-Poly1305: unseal (any active version).
    Unseal,
}

impl KeyUse {
    /// The uses an algorithm allows.
    pub fn for_algorithm(alg: Algorithm) -> &'static [KeyUse] {
        match alg {
            Algorithm::Ed25519 => &[KeyUse::Sign, KeyUse::Verify],
            Algorithm::XChaCha20Poly1305 => &[KeyUse::Seal, KeyUse::Unseal],
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            KeyUse::Sign => "sign",
            KeyUse::Verify => "verify",
            KeyUse::Seal => "seal",
            KeyUse::Unseal => "unseal",
        }
    }
}

/// Public metadata of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// 1-based version number.
    pub version: u32,
    /// Lifecycle state.
    pub state: VersionState,
    /// Creation time (Unix seconds, from the store's clock).
    pub created: u64,
    /// Ed25519 public key (signing keys only).
    pub public: Option<[u8; 32]>,
    /// RFC 9679 thumbprint of `public` (signing keys only).
    pub kid: Option<Kid>,
}

/// Public metadata of a key: everything in its record except wrapped blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's name.
    pub name: KeyName,
    /// The key's algorithm.
    pub alg: Algorithm,
    /// Lifecycle state.
    pub state: KeyState,
    /// The version that signs or seals.
    pub primary: u32,
    /// Versions below this are retired.
    pub min_version: u32,
    /// Creation time (Unix seconds).
    pub created: u64,
    /// Time of the last rotation, if any.
    pub rotated: Option<u64>,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
}

impl KeyInfo {
    /// What the key may be used for.
    pub fn uses(&self) -> &'static [KeyUse] {
        KeyUse::for_algorithm(self.alg)
    }

    /// One version's metadata.
    pub fn version(&self, v: u32) -> Option<&VersionInfo> {
        let idx = usize::try_from(v.checked_sub(1)?).ok()?;
        self.versions.get(idx)
    }
}

/// Which version a verify or public-key request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySelector {
    /// By version number.
    Version(u32),
    /// By key id.
    Kid(Kid),
}

/// What a revoke applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeScope {
    /// One version.
    Version(u32),
    /// The whole key, every version.
    Key,
}

/// The result of an operation that may grow storage, with any soft-quota
/// warnings it raised.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The result.
    pub value: T,
    /// Soft-quota warnings (empty when within the soft limits).
    pub warnings: Vec<crate::quota::QuotaWarning>,
}

/// A signature and the version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOutput {
    /// The RFC 8032 Ed25519 signature.
    pub signature: [u8; 64],
    /// The key version used.
    pub version: u32,
    /// The kid of that version.
    pub kid: Kid,
}

/// Sealed data (see [`crate::sealfmt`]) and the version that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealOutput {
    /// Header, then keymint's sealed object.
    pub sealed: Vec<u8>,
    /// The key version used (also in the header).
    pub version: u32,
}

/// Unsealed plaintext (zeroized on drop) and the version that opened it.
pub struct Unsealed {
    /// The plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key version used.
    pub version: u32,
}

impl fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Unsealed(v{}, {} bytes)",
            self.version,
            self.plaintext.len()
        )
    }
}

/// A public key and the version it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// The version.
    pub version: u32,
    /// Its kid.
    pub kid: Kid,
    /// The strictly parsed (canonical, not weak) key.
    pub key: VerifyingKey,
}

/// A key version exported as a wrapped blob: ciphertext that only this
/// device's keymint opens, and only under `identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedKey {
    /// The identity the blob is bound to.
    pub identity: KeyIdentity,
    /// The wrapped material.
    pub wrapped: WrappedKey,
    /// The public key (signing keys).
    pub public: Option<[u8; 32]>,
    /// The kid (signing keys).
    pub kid: Option<Kid>,
    /// The id of the device whose keymint can open `wrapped`.
    pub device_id: [u8; 32],
}

/// One stored version: metadata plus, while active, wrapped material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionRecord {
    pub(crate) info: VersionInfo,
    pub(crate) wrapped: Option<WrappedKey>,
    /// The namespace the material was wrapped under, when it is not the
    /// key's own (see `record.rs`): keymint binds both the wrapping and
    /// sealed data to the identity, so the key keeps being used under it.
    pub(crate) bound_app: Option<AppId>,
}

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    pub(crate) name: KeyName,
    pub(crate) alg: Algorithm,
    pub(crate) state: KeyState,
    pub(crate) primary: u32,
    pub(crate) min_version: u32,
    pub(crate) created: u64,
    pub(crate) rotated: Option<u64>,
    pub(crate) versions: Vec<VersionRecord>,
}

impl KeyRecord {
    /// A new active key whose version 1 (primary) is `v1`.
    pub(crate) fn first(name: &KeyName, alg: Algorithm, v1: VersionRecord) -> KeyRecord {
        KeyRecord {
            name: name.clone(),
            alg,
            state: KeyState::Active,
            primary: 1,
            min_version: 1,
            created: v1.info.created,
            rotated: None,
            versions: vec![v1],
        }
    }

    pub(crate) fn info(&self) -> KeyInfo {
        KeyInfo {
            name: self.name.clone(),
            alg: self.alg,
            state: self.state,
            primary: self.primary,
            min_version: self.min_version,
            created: self.created,
            rotated: self.rotated,
            versions: self.versions.iter().map(|v| v.info.clone()).collect(),
        }
    }

    /// The identity keymint binds version `v`'s material (and what it
    /// sealed) to: the key's own name, in the namespace the version was
    /// wrapped under.
    pub(crate) fn identity(&self, v: u32) -> Result<KeyIdentity, KeystoreError> {
        let rec = self.version(v)?;
        let mut id = self.name.identity(v, self.alg);
        if let Some(app) = &rec.bound_app {
            id.app = app.clone();
        }
        Ok(id)
    }

    pub(crate) fn latest(&self) -> u32 {
        u32::try_from(self.versions.len()).unwrap_or(u32::MAX)
    }

    fn key(&self) -> String {
        self.name.to_string()
    }

    /// Refuse a use the algorithm does not allow.
    pub(crate) fn require_use(&self, want: KeyUse) -> Result<(), KeystoreError> {
        if KeyUse::for_algorithm(self.alg).contains(&want) {
            Ok(())
        } else {
            Err(KeystoreError::WrongUse {
                key: self.key(),
                alg: self.alg.as_str(),
                op: want.as_str(),
            })
        }
    }

    pub(crate) fn require_active_key(&self) -> Result<(), KeystoreError> {
        match self.state {
            KeyState::Active => Ok(()),
            KeyState::Revoked => Err(KeystoreError::KeyRevoked { key: self.key() }),
        }
    }

    pub(crate) fn version(&self, v: u32) -> Result<&VersionRecord, KeystoreError> {
        v.checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.versions.get(i))
            .ok_or_else(|| KeystoreError::NoVersion {
                key: self.key(),
                version: v,
            })
    }

    pub(crate) fn version_mut(&mut self, v: u32) -> Result<&mut VersionRecord, KeystoreError> {
        let key = self.key();
        v.checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.versions.get_mut(i))
            .ok_or(KeystoreError::NoVersion { key, version: v })
    }

    /// The version a selector names (it may be unusable).
    pub(crate) fn select(&self, sel: KeySelector) -> Result<u32, KeystoreError> {
        match sel {
            KeySelector::Version(v) => self.version(v).map(|r| r.info.version),
            KeySelector::Kid(kid) => self
                .versions
                .iter()
                .find(|r| r.info.kid == Some(kid))
                .map(|r| r.info.version)
                .ok_or_else(|| KeystoreError::NoKid {
                    key: self.key(),
                    kid: kid.to_hex(),
                }),
        }
    }

    /// Version `v` if the key and the version are usable, with its
    /// material. Revoked and retired are `EKEYREVOKED`.
    pub(crate) fn usable(&self, v: u32) -> Result<(&VersionRecord, &WrappedKey), KeystoreError> {
        self.require_active_key()?;
        let rec = self.version(v)?;
        match rec.info.state {
            VersionState::Active => {}
            VersionState::Retired => {
                return Err(KeystoreError::Retired {
                    key: self.key(),
                    version: v,
                    min: self.min_version,
                })
            }
            VersionState::Revoked => {
                return Err(KeystoreError::VersionRevoked {
                    key: self.key(),
                    version: v,
                })
            }
        }
        // The load checks guarantee active versions hold material.
        let wrapped = rec.wrapped.as_ref().ok_or_else(|| KeystoreError::Corrupt {
            path: format!("state:/keystore/{}", self.name),
            reason: "active version without material",
        })?;
        Ok((rec, wrapped))
    }
}
