//! The authorization contract between enforcement points and the policy
//! engine. Every enforcement point (keystore, vault, attestation, trust
//! writes, bundles, updates) asks one [`Authorizer`]; the policy crate
//! provides the real one, which also writes the audit trail.
//!
//! Invariant: an enforcement point that cannot get a decision denies (fail
//! closed). [`AuthzError`] has no "allow anyway" variant.

use crate::code::{Coded, ErrorCode};
use crate::subject::Subject;
use std::fmt;
use std::str::FromStr;

/// A capability a subject may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Create a key in one's own namespace.
    KeyCreate,
    /// Rotate a key (add a version and make it primary).
    KeyRotate,
    /// Revoke a key or a version, or retire old versions.
    KeyRevoke,
    /// Sign with a key.
    KeySign,
    /// Seal (encrypt) with a key.
    KeySeal,
    /// Unseal (decrypt) with a key.
    KeyDecrypt,
    /// Export a key as a device-bound wrapped blob.
    KeyExport,
    /// Delete a key: its record and every wrapped version.
    KeyDelete,
    /// Import an existing private key into one's own namespace (it is
    /// wrapped at once and never leaves again).
    KeyImport,
    /// Obtain an attestation statement.
    Attest,
    /// Write the trust store (add, remove, distrust roots). System only.
    TrustWrite,
    /// Use the per-user vault.
    VaultUse,
    /// Create, delete and reset users. System only.
    UserAdmin,
    /// Install or uninstall a signed bundle.
    BundleInstall,
    /// Stage, commit or roll back a signed system update. System only.
    UpdateStage,
    /// Install a bundle or stage (or roll back to) a system update whose
    /// version does not go up: a downgrade or a reinstall (`force`).
    /// System only.
    ArtifactForce,
}

impl Capability {
    /// Every capability, in a fixed order.
    pub const ALL: [Capability; 16] = [
        Capability::KeyCreate,
        Capability::KeyRotate,
        Capability::KeyRevoke,
        Capability::KeySign,
        Capability::KeySeal,
        Capability::KeyDecrypt,
        Capability::KeyExport,
        Capability::KeyDelete,
        Capability::KeyImport,
        Capability::Attest,
        Capability::TrustWrite,
        Capability::VaultUse,
        Capability::UserAdmin,
        Capability::BundleInstall,
        Capability::UpdateStage,
        Capability::ArtifactForce,
    ];

    /// The capability's stable name, e.g. `identity.key.sign`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::KeyCreate => "identity.key.create",
            Capability::KeyRotate => "identity.key.rotate",
            Capability::KeyRevoke => "identity.key.revoke",
            Capability::KeySign => "identity.key.sign",
            Capability::KeySeal => "identity.key.seal",
            Capability::KeyDecrypt => "identity.key.decrypt",
            Capability::KeyExport => "identity.key.export",
            Capability::KeyDelete => "identity.key.delete",
            Capability::KeyImport => "identity.key.import",
            Capability::Attest => "identity.attest",
            Capability::TrustWrite => "identity.trust.write",
            Capability::VaultUse => "identity.vault.use",
            Capability::UserAdmin => "identity.user.admin",
            Capability::BundleInstall => "identity.bundle.install",
            Capability::UpdateStage => "identity.update.stage",
            Capability::ArtifactForce => "identity.artifact.force",
        }
    }

    /// Capabilities only system subjects may ever hold; a policy that grants
    /// one to anything else is refused at load.
    pub fn is_system_only(self) -> bool {
        matches!(
            self,
            Capability::TrustWrite
                | Capability::UserAdmin
                | Capability::UpdateStage
                | Capability::ArtifactForce
        )
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no known capability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability")]
pub struct UnknownCapability;

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownCapability)
    }
}

/// Why an operation was not authorized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// The policy denies it.
    #[error("{subject} lacks {capability}")]
    Denied {
        /// The caller.
        subject: String,
        /// The capability that was missing.
        capability: Capability,
    },
    /// No decision could be made or recorded (policy or audit sink
    /// unavailable). Fail closed.
    #[error("authorization unavailable: {0}")]
    Unavailable(&'static str),
    /// The state disk is down to the space kept for the system's own
    /// records: new work of non-system subjects is refused.
    #[error("state disk reserve reached")]
    Reserve,
}

impl Coded for AuthzError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthzError::Denied { .. } => ErrorCode::Eperm,
            AuthzError::Unavailable(_) => ErrorCode::Eio,
            AuthzError::Reserve => ErrorCode::Edquota,
        }
    }
}

/// The one question every enforcement point asks. `target` names what is
/// acted on (ids only, never secrets), for the audit trail.
pub trait Authorizer: Send + Sync {
    /// Allow, or say why not. Implementations record every decision.
    fn authorize(
        &self,
        subject: &Subject,
        capability: Capability,
        target: &str,
    ) -> Result<(), AuthzError>;
}

/// Soft and hard limits on a stored amount (bytes and item count). Over
/// soft: the operation succeeds with a warning; over hard: `EDQUOTA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    /// Bytes above which a warning is returned.
    pub soft_bytes: u64,
    /// Bytes that may not be exceeded.
    pub hard_bytes: u64,
    /// Item count above which a warning is returned.
    pub soft_count: u64,
    /// Item count that may not be exceeded.
    pub hard_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_round_trip() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
        }
        assert!(Capability::TrustWrite.is_system_only());
        assert!(!Capability::KeySign.is_system_only());
    }

    #[test]
    fn test_reject_unknown_capability() {
        assert_eq!(
            "identity.key.*".parse::<Capability>(),
            Err(UnknownCapability)
        );
    }

    #[test]
    fn authz_errors_map_to_stable_codes() {
        let d = AuthzError::Denied {
            subject: "app:x".into(),
            capability: Capability::KeySign,
        };
        assert_eq!(d.code(), ErrorCode::Eperm);
        assert_eq!(AuthzError::Unavailable("audit").code(), ErrorCode::Eio);
    }
}
