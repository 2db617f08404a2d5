//! keymint's error type. Messages describe what failed, never with which
//! bytes: a failed unwrap or unseal is one opaque variant, so the error
//! cannot serve as an oracle.

use nexus_core::{Coded, ErrorCode};

/// A keymint failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyMintError {
    /// The device secret could not be read or written.
    #[error(transparent)]
    Storage(#[from] statefs::StateError),
    /// The OS random number generator failed.
    #[error("entropy source failed")]
    Entropy,
    /// A wrapped blob, sealed message or vault key did not authenticate
    /// (tampered, or presented under another identity). Opaque on purpose.
    #[error("authentication failed")]
    Integrity,
    /// An input had the wrong shape (length, version byte, algorithm).
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// The operation needs an unsealed session and there is none.
    #[error("session is locked or not unsealed")]
    Locked,
    /// keymint runs in another process (keymintd), which is down or
    /// restarting: try again.
    #[error("keymintd is unavailable; try again")]
    Unavailable,
    /// keymint runs in another process (keymintd) and the call failed
    /// there or on the way. The message is keymintd's own (keymint's
    /// messages name what failed, never with which bytes, and the wire
    /// contract keeps secrets out of every error message) or says how the
    /// call failed to reach it.
    #[error("{msg}")]
    Remote {
        /// The stable code keymintd answered, or `EIO`/`EBUSY` when it
        /// could not be reached.
        code: ErrorCode,
        /// What keymintd said, or why it could not be asked.
        msg: String,
    },
}

impl Coded for KeyMintError {
    fn code(&self) -> ErrorCode {
        match self {
            KeyMintError::Storage(e) => e.code(),
            KeyMintError::Entropy | KeyMintError::Integrity => ErrorCode::Eio,
            KeyMintError::Invalid(_) => ErrorCode::Einval,
            KeyMintError::Locked => ErrorCode::Elocked,
            KeyMintError::Unavailable => ErrorCode::Eagain,
            KeyMintError::Remote { code, .. } => *code,
        }
    }
}
