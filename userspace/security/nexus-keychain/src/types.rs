//! The typed results of keystored's key and device ops, built from the
//! `nexus-proto` replies of docs/architecture/services.md.
//!
//! Invariant: every value here was checked against the contract when the
//! reply was decoded (kids are 64 hex digits, labels and app ids are
//! valid, states are the documented words); nothing is passed through
//! unchecked.

use crate::secret::SecretBytes;
use nexus_core::{AppId, Kid, Label};
use nexus_proto::{Alg, KeyState, VersionState};
use std::fmt;
use std::str::FromStr;

/// A key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// Ed25519 signing.
    Ed25519,
    /// XChaCha20-Poly1305 sealing.
    XChaCha20Poly1305,
}

impl KeyAlg {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Ed25519 => "Ed25519",
            KeyAlg::XChaCha20Poly1305 => "XChaCha20-Poly1305",
        }
    }
}

impl From<Alg> for KeyAlg {
    fn from(a: Alg) -> KeyAlg {
        match a {
            Alg::Ed25519 => KeyAlg::Ed25519,
            Alg::XChaCha20Poly1305 => KeyAlg::XChaCha20Poly1305,
        }
    }
}

impl From<KeyAlg> for Alg {
    fn from(a: KeyAlg) -> Alg {
        match a {
            KeyAlg::Ed25519 => Alg::Ed25519,
            KeyAlg::XChaCha20Poly1305 => Alg::XChaCha20Poly1305,
        }
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no known algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm (expected Ed25519 or XChaCha20-Poly1305)")]
pub struct UnknownAlg;

impl FromStr for KeyAlg {
    type Err = UnknownAlg;
    /// The wire names, in any letter case.
    fn from_str(s: &str) -> Result<Self, UnknownAlg> {
        [KeyAlg::Ed25519, KeyAlg::XChaCha20Poly1305]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownAlg)
    }
}

/// A key or version just made by `key.create` or `key.rotate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedKey {
    /// The new version (primary now).
    pub version: u64,
    /// Its kid (Ed25519 keys).
    pub kid: Option<Kid>,
    /// Its public key (Ed25519 keys).
    pub public_key: Option<Vec<u8>>,
    /// Quota warnings (soft limit passed).
    pub warnings: Vec<String>,
}

impl From<nexus_proto::KeyCreateReply> for CreatedKey {
    fn from(r: nexus_proto::KeyCreateReply) -> CreatedKey {
        CreatedKey {
            version: u64::from(r.version),
            kid: r.kid,
            public_key: r.public_key.map(nexus_proto::Bytes::into_vec),
            warnings: r.warnings,
        }
    }
}

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    /// Its number.
    pub version: u64,
    /// Its state.
    pub state: VersionState,
    /// When it was made (seconds since the Unix epoch).
    pub created: u64,
    /// Its kid (Ed25519 keys).
    pub kid: Option<Kid>,
    /// Its public key (Ed25519 keys).
    pub public_key: Option<Vec<u8>>,
}

/// A key's public metadata (`key-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The owning app.
    pub app: AppId,
    /// The purpose label.
    pub purpose: Label,
    /// The name label.
    pub name: Label,
    /// The algorithm.
    pub alg: KeyAlg,
    /// Active or revoked.
    pub state: KeyState,
    /// The version new operations use.
    pub primary: u64,
    /// Versions below this are retired.
    pub min_version: u64,
    /// When the key was made.
    pub created: u64,
    /// When it was last rotated.
    pub rotated: u64,
    /// Every version.
    pub versions: Vec<KeyVersion>,
}

impl From<nexus_proto::KeyInfo> for KeyInfo {
    fn from(r: nexus_proto::KeyInfo) -> KeyInfo {
        KeyInfo {
            app: r.app,
            purpose: r.purpose,
            name: r.name,
            alg: r.alg.into(),
            state: r.state,
            primary: u64::from(r.primary),
            min_version: u64::from(r.min_version),
            created: r.created,
            rotated: r.rotated,
            versions: r
                .versions
                .into_iter()
                .map(|v| KeyVersion {
                    version: u64::from(v.version),
                    state: v.state,
                    created: v.created,
                    kid: v.kid,
                    public_key: v.public_key.map(nexus_proto::Bytes::into_vec),
                })
                .collect(),
        }
    }
}

/// A key whose record keystored cannot read (`key.list`'s `damaged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedKey {
    /// The owning app.
    pub app: AppId,
    /// The purpose label.
    pub purpose: Label,
    /// The name label.
    pub name: Label,
    /// Its record (`state:/keystore/…`).
    pub record: String,
    /// Why it cannot be read.
    pub error: String,
}

impl From<nexus_proto::DamagedKey> for DamagedKey {
    fn from(d: nexus_proto::DamagedKey) -> DamagedKey {
        DamagedKey {
            app: d.app,
            purpose: d.purpose,
            name: d.name,
            record: d.record,
            error: d.error,
        }
    }
}

/// Every key of a namespace: the readable ones and the damaged records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyListing {
    /// The readable keys.
    pub keys: Vec<KeyInfo>,
    /// The keys whose records cannot be read.
    pub damaged: Vec<DamagedKey>,
}

/// A signature and the key version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The 64-byte Ed25519 signature.
    pub sig: Vec<u8>,
    /// The kid of the version that signed.
    pub kid: Kid,
    /// That version.
    pub version: u64,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The version it verified under.
    pub version: u64,
    /// That version's kid.
    pub kid: Kid,
}

/// Sealed data and the version that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The sealed blob (carries its version).
    pub sealed: Vec<u8>,
    /// The version that sealed it.
    pub version: u64,
}

/// Unsealed plaintext (secret) and the version that had sealed it.
pub struct Unsealed {
    /// The plaintext.
    pub plaintext: SecretBytes,
    /// The version that had sealed it.
    pub version: u64,
}

/// A key exported as a blob only this device's keymintd can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedExport {
    /// The wrapped blob.
    pub blob: Vec<u8>,
    /// The owning app.
    pub app: AppId,
    /// The purpose.
    pub purpose: Label,
    /// The name.
    pub name: Label,
    /// The exported version.
    pub version: u64,
    /// The algorithm.
    pub alg: KeyAlg,
}

/// The device, as keystored sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The 32-byte device id.
    pub device_id: Vec<u8>,
    /// Whether keys come from the test-only deterministic generator.
    pub insecure: bool,
    /// Whether nothing survives a restart.
    pub volatile: bool,
}

/// What `status` says about a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service's own name.
    pub service: String,
    /// Whether it runs without a state directory.
    pub volatile: bool,
    /// Whether it was built with the test-only deterministic generator.
    pub insecure: bool,
    /// Its version.
    pub version: String,
    /// The records it reports damaged (`state:/…` paths); empty when none.
    pub damaged: Vec<String>,
}

impl From<nexus_proto::StatusReply> for ServiceStatus {
    fn from(r: nexus_proto::StatusReply) -> ServiceStatus {
        ServiceStatus {
            service: r.service,
            volatile: r.volatile,
            insecure: r.insecure,
            version: r.version,
            damaged: r.damaged.unwrap_or_default(),
        }
    }
}
