//! identity's error type. Messages name what failed, never a password, a
//! derived secret or whether a user exists (login failures are one
//! variant, and a session id that names nothing the caller may see is
//! one variant too).

use nexus_core::{AuthzError, Coded, ErrorCode};

/// An identity failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Wrong password or unknown user: one variant on purpose.
    #[error("authentication failed")]
    AuthFailed,
    /// Too many failed attempts (by this caller, or by this caller for
    /// this user); Argon2 was not run.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The caller already has as many password checks in flight as it may
    /// (its queue in front of the Argon2id gate is full).
    #[error("too many password checks in progress for this caller; try again")]
    Busy,
    /// The caller may not administer users.
    #[error(transparent)]
    Denied(#[from] AuthzError),
    /// `create_user` for a user that exists (an admin-only answer).
    #[error("user already exists")]
    UserExists,
    /// `create_user` for a user whose deletion has not finished.
    #[error("the user's deletion is pending; run user.delete again")]
    DeletionPending,
    /// An admin operation named a user that does not exist.
    #[error("no such user")]
    NoSuchUser,
    /// The session id names no live session the caller may control
    /// (unknown, ended, or another subject's).
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
    /// keymint refused (a wrapped vault key that does not open is EIO), or
    /// could not be asked (its code: EAGAIN when keymintd is down).
    #[error(transparent)]
    KeyMint(#[from] keymint::KeyMintError),
    /// The deleted user's vault could not be purged (keystored
    /// unavailable: EAGAIN); the deletion stays pending.
    #[error("{msg}")]
    Purge {
        /// The purge's code.
        code: ErrorCode,
        /// What failed (ids only).
        msg: String,
    },
    /// The decision could not be written to the audit log: nothing was
    /// decided.
    #[error("authorization unavailable: audit sink failed")]
    Audit,
    /// Argon2id failed to run (allocation or parameter failure).
    #[error("password hashing failed")]
    Kdf,
}

impl Coded for IdentityError {
    fn code(&self) -> ErrorCode {
        match self {
            IdentityError::AuthFailed | IdentityError::NoSuchSession => ErrorCode::Eperm,
            IdentityError::Throttled { .. } | IdentityError::Busy => ErrorCode::Eagain,
            IdentityError::Denied(e) => e.code(),
            IdentityError::UserExists
            | IdentityError::DeletionPending
            | IdentityError::AlreadyActive => ErrorCode::Ealready,
            IdentityError::NoSuchUser => ErrorCode::Enoent,
            IdentityError::Invalid(_) => ErrorCode::Einval,
            IdentityError::Corrupt { .. } | IdentityError::Kdf | IdentityError::Audit => {
                ErrorCode::Eio
            }
            IdentityError::Storage(e) => e.code(),
            IdentityError::KeyMint(e) => e.code(),
            IdentityError::Purge { code, .. } => *code,
        }
    }
}
