//! What a command can fail with, and the stable exit status of each.
//!
//! Exit statuses (stable, documented in docs/tools/nx-key.md):
//! - 0: success;
//! - 1: the service could not be reached or its reply not understood
//!   (transport);
//! - 2: usage error (bad arguments, found before anything was sent);
//! - `ErrorCode::exit_status()` (10..=19): the service refused with that
//!   code, or an offline check (signing, token verification, reading a
//!   file) failed with it.
//!
//! Invariant: messages name files, ops and fields, never a secret (no
//! password, plaintext or vault value, no secret key bytes).

use nexus_core::{Coded, ErrorCode};
use nexus_keychain::KeychainError;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum NxError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The service refused.
    #[error("{msg}")]
    Remote {
        /// Its stable code.
        code: ErrorCode,
        /// Its message.
        msg: String,
    },
    /// The service could not be asked.
    #[error("{msg}")]
    Transport {
        /// EIO, or EBUSY for a timeout.
        code: ErrorCode,
        /// What happened.
        msg: String,
    },
    /// A local step failed (a file, an offline check).
    #[error("{msg}")]
    Local {
        /// The stable code.
        code: ErrorCode,
        /// What happened.
        msg: String,
    },
}

impl NxError {
    /// A usage error.
    pub fn usage(msg: impl Into<String>) -> NxError {
        NxError::Usage(msg.into())
    }

    /// A local failure carrying a domain error's code and message.
    pub fn local<E: Coded + std::fmt::Display>(context: &str, e: &E) -> NxError {
        NxError::Local {
            code: e.code(),
            msg: format!("{context}: {e}"),
        }
    }

    /// A local I/O failure on `what` (EIO).
    pub fn io(what: &str, e: &std::io::Error) -> NxError {
        NxError::Local {
            code: ErrorCode::Eio,
            msg: format!("{what}: {e}"),
        }
    }

    /// The process exit status.
    pub fn exit_status(&self) -> u8 {
        match self {
            NxError::Usage(_) => 2,
            NxError::Transport { .. } => 1,
            NxError::Remote { code, .. } | NxError::Local { code, .. } => code.exit_status(),
        }
    }
}

impl Coded for NxError {
    fn code(&self) -> ErrorCode {
        match self {
            NxError::Usage(_) => ErrorCode::Einval,
            NxError::Remote { code, .. }
            | NxError::Transport { code, .. }
            | NxError::Local { code, .. } => *code,
        }
    }
}

impl From<KeychainError> for NxError {
    fn from(e: KeychainError) -> NxError {
        match e {
            KeychainError::Remote { code, msg } => NxError::Remote { code, msg },
            KeychainError::Invalid(msg) => NxError::Usage(msg),
            other => NxError::Transport {
                code: other.code(),
                msg: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses() {
        assert_eq!(NxError::usage("x").exit_status(), 2);
        let remote: NxError = KeychainError::Remote {
            code: ErrorCode::Elocked,
            msg: "locked".into(),
        }
        .into();
        assert_eq!(remote.exit_status(), 15);
        let t: NxError = KeychainError::NoEndpoint {
            service: nexus_keychain::Service::Keystored,
        }
        .into();
        assert_eq!((t.exit_status(), t.code()), (1, ErrorCode::Ebusy));
    }
}
