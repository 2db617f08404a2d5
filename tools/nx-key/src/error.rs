//! What a command can fail with, and the stable exit status of each.
//!
//! Exit statuses (stable, documented in docs/tools/nx-key.md):
//! - 0: success;
//! - 1: the service could not be reached or its reply not understood
//!   (transport);
//! - 2: usage error (bad arguments, found before anything was sent);
//! - 3: a local file (one named on the command line, or stdin/stdout)
//!   could not be read or written: missing, unreadable, not writable.
//!   Never a service's answer, so a damaged record a service reports
//!   (`EIO`, 19) and a file the user mistyped are told apart;
//! - `ErrorCode::exit_status()` (10..=19): the service refused with that
//!   code, or an offline check (signing, token verification) failed with
//!   it.
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
    /// A local file could not be read or written (exit status 3).
    #[error("{msg}")]
    LocalFile {
        /// The code closest to the OS error (`ENOENT`, `EPERM`, `EIO`),
        /// for the message.
        code: ErrorCode,
        /// What happened, naming the file.
        msg: String,
    },
    /// A service's socket could not be connected to (transport, exit
    /// status 1). [`crate::run`] completes the message with the socket's
    /// path, where the run directory came from and what to do.
    #[error("{service}: cannot connect: {source}")]
    Unreachable {
        /// The socket's name in the run directory, without `.sock`
        /// (`keystored`, `init`).
        service: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A local step failed (an offline check).
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

    /// A local file `what` could not be read or written (exit status 3).
    pub fn io(what: &str, e: &std::io::Error) -> NxError {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorCode::Enoent,
            std::io::ErrorKind::PermissionDenied => ErrorCode::Eperm,
            _ => ErrorCode::Eio,
        };
        NxError::LocalFile {
            code,
            msg: format!("{what}: {e}"),
        }
    }

    /// The process exit status.
    pub fn exit_status(&self) -> u8 {
        match self {
            NxError::Usage(_) => 2,
            NxError::Transport { .. } | NxError::Unreachable { .. } => 1,
            NxError::LocalFile { .. } => 3,
            NxError::Remote { code, .. } | NxError::Local { code, .. } => code.exit_status(),
        }
    }
}

impl Coded for NxError {
    fn code(&self) -> ErrorCode {
        match self {
            NxError::Usage(_) => ErrorCode::Einval,
            NxError::Unreachable { .. } => ErrorCode::Eio,
            NxError::Remote { code, .. }
            | NxError::Transport { code, .. }
            | NxError::LocalFile { code, .. }
            | NxError::Local { code, .. } => *code,
        }
    }
}

impl From<KeychainError> for NxError {
    fn from(e: KeychainError) -> NxError {
        match e {
            KeychainError::Remote { code, msg } => NxError::Remote { code, msg },
            KeychainError::Invalid(msg) => NxError::Usage(msg),
            KeychainError::Transport {
                service,
                source: wire::ClientError::Connect(source),
            } => NxError::Unreachable {
                service: service.name().to_owned(),
                source,
            },
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
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let f = NxError::io("./release.tar", &missing);
        assert_eq!((f.exit_status(), f.code()), (3, ErrorCode::Enoent));
        let remote_eio: NxError = KeychainError::Remote {
            code: ErrorCode::Eio,
            msg: "damaged".into(),
        }
        .into();
        assert_eq!(remote_eio.exit_status(), 19);
    }
}
