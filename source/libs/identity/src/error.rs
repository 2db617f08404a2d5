//! identity's error type. Messages name what failed, never a password, a
//! derived secret or whether a user exists (login failures are one
//! variant).

use nexus_core::{AuthzError, Coded, ErrorCode};

/// An identity failure.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Wrong password or unknown user: one variant on purpose.
    #[error("authentication failed")]
    AuthFailed,
    /// Too many failed attempts; Argon2 was not run.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The caller may not administer users.
    #[error(transparent)]
    Denied(#[from] AuthzError),
    /// `create_user` for a user that exists (an admin-only answer).
    #[error("user already exists")]
    UserExists,
    /// An admin operation named a user that does not exist.
    #[error("no such user")]
    NoSuchUser,
    /// The session id names no live session.
    #[error("no such session")]
    NoSuchSession,
    /// `unlock` on a session that is not locked.
    #[error("session is already unlocked")]
    AlreadyActive,
    /// An argument is out of range (password length, parameters).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// A persisted record failed its format checks.
    #[error("corrupt record at {path}: {reason}")]
    Corrupt {
        /// The `state:/` path of the record.
        path: String,
        /// What was wrong (structure only).
        reason: &'static str,
    },
    /// Storage failed (includes envelope checksum and version errors).
    #[error(transparent)]
    Storage(#[from] statefs::StateError),
    /// keymint refused (a wrapped vault key that does not open is EIO).
    #[error(transparent)]
    KeyMint(#[from] keymint::KeyMintError),
    /// Argon2id failed to run (allocation or parameter failure).
    #[error("password hashing failed")]
    Kdf,
}

impl Coded for IdentityError {
    fn code(&self) -> ErrorCode {
        match self {
            IdentityError::AuthFailed => ErrorCode::Eperm,
            IdentityError::Throttled { .. } => ErrorCode::Eagain,
            IdentityError::Denied(e) => e.code(),
            IdentityError::UserExists | IdentityError::AlreadyActive => ErrorCode::Ealready,
            IdentityError::NoSuchUser | IdentityError::NoSuchSession => ErrorCode::Enoent,
            IdentityError::Invalid(_) => ErrorCode::Einval,
            IdentityError::Corrupt { .. } | IdentityError::Kdf => ErrorCode::Eio,
            IdentityError::Storage(e) => e.code(),
            IdentityError::KeyMint(e) => e.code(),
        }
    }
}
