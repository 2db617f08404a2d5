//! The keystore's error type and the one place where keymint, statefs and
//! authorization errors are mapped onto it.
//!
//! Messages name keys (`app/purpose/name`), versions and figures, never key
//! material, plaintext or AAD. A failed unseal is the single opaque keymint
//! "authentication failed", whatever was tampered with.

use crate::quota::QuotaResource;
use keymint::KeyMintError;
use nexus_core::{AuthzError, Coded, ErrorCode};
use statefs::StateError;

/// A keystore failure.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The caller's namespace does not cover the key it named.
    #[error("{subject} may not use keys of app {app}{}", owner_note(app))]
    Namespace {
        /// The caller.
        subject: String,
        /// The app namespace the request named.
        app: String,
    },
    /// The authorizer refused (or could not decide: then `EIO`).
    #[error(transparent)]
    Authz(#[from] AuthzError),
    /// No such key.
    #[error("no key {key}")]
    NotFound {
        /// `app/purpose/name`.
        key: String,
    },
    /// The key exists but has no such version.
    #[error("key {key} has no version {version}")]
    NoVersion {
        /// `app/purpose/name`.
        key: String,
        /// The version asked for.
        version: u32,
    },
    /// No version of the key has this kid.
    #[error("key {key} has no version with kid {kid}")]
    NoKid {
        /// `app/purpose/name`.
        key: String,
        /// The kid asked for (hex).
        kid: String,
    },
    /// Create of a name that is taken (revoked keys keep their name).
    #[error("key {key} already exists")]
    Exists {
        /// `app/purpose/name`.
        key: String,
    },
    /// The whole key is revoked.
    #[error("key {key} is revoked")]
    KeyRevoked {
        /// `app/purpose/name`.
        key: String,
    },
    /// The version used is revoked.
    #[error("key {key} version {version} is revoked")]
    VersionRevoked {
        /// `app/purpose/name`.
        key: String,
        /// The revoked version.
        version: u32,
    },
    /// The version used was retired by `retire`.
    #[error("key {key} version {version} is retired below min version {min}")]
    Retired {
        /// `app/purpose/name`.
        key: String,
        /// The retired version.
        version: u32,
        /// The key's minimum version.
        min: u32,
    },
    /// A hard quota would be exceeded.
    #[error(
        "keystore quota exceeded for app {app}: {resource} used {used}, \
         would be {would_be}, hard limit {limit}"
    )]
    Quota {
        /// The app namespace.
        app: String,
        /// What ran out.
        resource: QuotaResource,
        /// Current use.
        used: u64,
        /// Use after the refused operation.
        would_be: u64,
        /// The hard limit.
        limit: u64,
    },
    /// An input exceeds its limit (`nexus_proto::limits`).
    #[error(transparent)]
    TooLarge(#[from] nexus_proto::limits::TooLarge),
    /// The key's algorithm does not allow the operation.
    #[error("key {key} is an {alg} key and cannot be used to {op}")]
    WrongUse {
        /// `app/purpose/name`.
        key: String,
        /// The key's algorithm.
        alg: &'static str,
        /// The refused use.
        op: &'static str,
    },
    /// A malformed argument.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// A signature did not verify. Deliberately without detail.
    #[error("signature verification failed")]
    BadSignature,
    /// A key record failed its checks (structure only, never content).
    #[error("corrupt key record {path}: {reason}")]
    Corrupt {
        /// The `state:/…` path.
        path: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// keymint answered something the keystore cannot use (for example a
    /// signing key without a valid public key).
    #[error("keymint returned an unusable answer: {0}")]
    Backend(&'static str),
    /// Storage failed (includes corrupt or unknown-version envelopes).
    #[error(transparent)]
    Storage(#[from] StateError),
    /// keymint failed (includes the opaque "authentication failed").
    #[error(transparent)]
    KeyMint(#[from] KeyMintError),
}

/// Says who owns a service's namespace: its keys are that service's alone.
fn owner_note(app: &str) -> String {
    match app.strip_prefix(nexus_core::SERVICE_NAMESPACE_PREFIX) {
        Some(svc) if !svc.is_empty() => format!(" (they belong to system:{svc})"),
        _ if app == "system" => " (the former shared namespace: no one may use its keys)".into(),
        _ => String::new(),
    }
}

impl From<keymint::ed25519::BadSignature> for KeystoreError {
    fn from(_: keymint::ed25519::BadSignature) -> Self {
        KeystoreError::BadSignature
    }
}

impl Coded for KeystoreError {
    fn code(&self) -> ErrorCode {
        match self {
            KeystoreError::Namespace { .. } | KeystoreError::BadSignature => ErrorCode::Eperm,
            KeystoreError::Authz(e) => e.code(),
            KeystoreError::NotFound { .. }
            | KeystoreError::NoVersion { .. }
            | KeystoreError::NoKid { .. } => ErrorCode::Enoent,
            KeystoreError::Exists { .. } => ErrorCode::Ealready,
            KeystoreError::KeyRevoked { .. }
            | KeystoreError::VersionRevoked { .. }
            | KeystoreError::Retired { .. } => ErrorCode::Ekeyrevoked,
            KeystoreError::Quota { .. } => ErrorCode::Edquota,
            KeystoreError::TooLarge(_)
            | KeystoreError::WrongUse { .. }
            | KeystoreError::Invalid(_) => ErrorCode::Einval,
            KeystoreError::Corrupt { .. } | KeystoreError::Backend(_) => ErrorCode::Eio,
            // A bad state path cannot come from validated names; if it
            // ever did, the record is unreachable: treat it as storage.
            KeystoreError::Storage(StateError::Path(_)) => ErrorCode::Eio,
            KeystoreError::Storage(e) => e.code(),
            KeystoreError::KeyMint(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let k = || "a/p/n".to_string();
        let cases = [
            (KeystoreError::NotFound { key: k() }, ErrorCode::Enoent),
            (KeystoreError::Exists { key: k() }, ErrorCode::Ealready),
            (
                KeystoreError::Retired {
                    key: k(),
                    version: 1,
                    min: 2,
                },
                ErrorCode::Ekeyrevoked,
            ),
            (KeystoreError::BadSignature, ErrorCode::Eperm),
            (
                KeystoreError::KeyMint(KeyMintError::Integrity),
                ErrorCode::Eio,
            ),
            (
                KeystoreError::Authz(AuthzError::Unavailable("x")),
                ErrorCode::Eio,
            ),
        ];
        for (e, c) in cases {
            assert_eq!(e.code(), c, "{e}");
        }
    }

    #[test]
    fn a_service_namespace_names_its_owner() {
        let e = KeystoreError::Namespace {
            subject: "system:admin".into(),
            app: "system.attestd".into(),
        };
        assert_eq!(
            e.to_string(),
            "system:admin may not use keys of app system.attestd (they belong to system:attestd)"
        );
        assert_eq!(e.code(), ErrorCode::Eperm);
    }

    #[test]
    fn quota_message_carries_figures() {
        let e = KeystoreError::Quota {
            app: "com.a".into(),
            resource: QuotaResource::Bytes,
            used: 900,
            would_be: 1100,
            limit: 1000,
        };
        let m = e.to_string();
        assert!(
            m.contains("used 900") && m.contains("hard limit 1000"),
            "{m}"
        );
        assert_eq!(e.code(), ErrorCode::Edquota);
    }
}
