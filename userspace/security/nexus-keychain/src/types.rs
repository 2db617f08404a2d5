//! The typed replies of keystored's key and device ops, parsed from the
//! `ok` maps of docs/architecture/services.md.
//!
//! Invariant: every value here was checked against the contract when the
//! reply was read (kids are 64 hex digits, labels and app ids are valid,
//! states are the documented words); nothing is passed through unchecked.

use crate::error::KeychainError;
use crate::reply::ReplyMap;
use crate::secret::SecretBytes;
use keymint::kid::Kid;
use nexus_core::{AppId, Label};
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

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The word on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            pub(crate) fn read(r: &ReplyMap, field: &str) -> Result<$name, KeychainError> {
                match r.text(field)?.as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err(r.bad(field, "is not a known state")),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

word_enum!(
    /// A key's state.
    KeyState { /** Usable. */ Active = "active", /** Every use fails with `EKEYREVOKED`. */ Revoked = "revoked" }
);
word_enum!(
    /// A key version's state.
    VersionState {
        /** Usable. */ Active = "active",
        /** Below the key's minimum version. */ Retired = "retired",
        /** Revoked. */ Revoked = "revoked",
    }
);

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

impl CreatedKey {
    pub(crate) fn read(mut r: ReplyMap) -> Result<CreatedKey, KeychainError> {
        Ok(CreatedKey {
            version: r.u64("version")?,
            kid: r.opt_kid("kid")?,
            public_key: r.opt_bytes("public_key")?,
            warnings: match r.get("warnings") {
                Some(_) => r.text_list("warnings")?,
                None => Vec::new(),
            },
        })
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

impl KeyInfo {
    pub(crate) fn read(mut r: ReplyMap) -> Result<KeyInfo, KeychainError> {
        let mut versions = Vec::new();
        for mut v in r.maps("versions")? {
            versions.push(KeyVersion {
                version: v.u64("version")?,
                state: VersionState::read(&v, "state")?,
                created: v.u64("created")?,
                kid: v.opt_kid("kid")?,
                public_key: v.opt_bytes("public_key")?,
            });
        }
        Ok(KeyInfo {
            app: r.parse("app")?,
            purpose: r.parse("purpose")?,
            name: r.parse("name")?,
            alg: r.parse("alg")?,
            state: KeyState::read(&r, "state")?,
            primary: r.u64("primary")?,
            min_version: r.u64("min_version")?,
            created: r.u64("created")?,
            rotated: r.u64("rotated")?,
            versions,
        })
    }
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
}

impl ServiceStatus {
    pub(crate) fn read(r: &ReplyMap) -> Result<ServiceStatus, KeychainError> {
        Ok(ServiceStatus {
            service: r.text("service")?,
            volatile: r.bool("volatile")?,
            insecure: r.bool("insecure")?,
            version: r.text("version")?,
        })
    }
}
