//! The vault's error type. Messages carry ids, figures and reasons, never
//! an entry's value (and never another app's entry names).

use nexus_core::{AuthzError, Coded, ErrorCode};
use std::fmt;

/// Which quota a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// One app's entries within one user's vault.
    App,
    /// All of one user's entries.
    User,
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaMeasure {
    /// Number of entries.
    Entries,
    /// Bytes of names plus values.
    Bytes,
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaScope::App => "app",
            QuotaScope::User => "user",
        })
    }
}

impl fmt::Display for QuotaMeasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaMeasure::Entries => "entries",
            QuotaMeasure::Bytes => "bytes",
        })
    }
}

/// A vault failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The session is known and locked (or its key is no longer held).
    #[error("vault is locked: session is not active")]
    Locked,
    /// The session id names no session (unknown, ended, or its user
    /// deleted).
    #[error("no such session")]
    NoSuchSession,
    /// The caller lacks `identity.vault.use`.
    #[error(transparent)]
    Denied(#[from] AuthzError),
    /// No entry of that name in the caller's namespace (the name is the
    /// caller's own, so it may be said back).
    #[error("no such entry `{name}`")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// A name or value is out of bounds.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// A hard quota would be exceeded.
    #[error("{scope} quota exceeded: {measure} would be {would_be}, hard limit {limit}")]
    Quota {
        /// App or user.
        scope: QuotaScope,
        /// Entries or bytes.
        measure: QuotaMeasure,
        /// The figure after the refused operation.
        would_be: u64,
        /// The hard limit.
        limit: u64,
    },
    /// The user's whole vault, encoded, would pass `MAX_VAULT_FILE_LEN`
    /// (the most keymintd seals in one request).
    #[error("the user's vault is full: {0}")]
    Full(nexus_proto::limits::TooLarge),
    /// vault.kv failed authentication or its format checks.
    #[error("corrupt vault at {path}: {reason}")]
    Corrupt {
        /// The `state:/` path.
        path: String,
        /// What was wrong (structure only).
        reason: &'static str,
    },
    /// Storage failed (includes envelope checksum and version errors).
    #[error(transparent)]
    Storage(#[from] statefs::StateError),
    /// keymint could not seal (entropy failure).
    #[error("vault could not be sealed")]
    Seal,
    /// keymint could not be asked (keymintd down or restarting: `EAGAIN`;
    /// busy): its code and words, never reported as "locked".
    #[error(transparent)]
    KeyMint(keymint::KeyMintError),
}

impl Coded for VaultError {
    fn code(&self) -> ErrorCode {
        match self {
            VaultError::Locked => ErrorCode::Elocked,
            VaultError::NoSuchSession => ErrorCode::Eperm,
            VaultError::Denied(e) => e.code(),
            VaultError::NotFound { .. } => ErrorCode::Enoent,
            VaultError::Invalid(_) => ErrorCode::Einval,
            VaultError::Quota { .. } | VaultError::Full(_) => ErrorCode::Edquota,
            VaultError::Corrupt { .. } | VaultError::Seal => ErrorCode::Eio,
            VaultError::Storage(e) => e.code(),
            VaultError::KeyMint(e) => e.code(),
        }
    }
}
