//! The keychain's one error type.
//!
//! Invariants: a daemon's refusal keeps its stable code and message exactly
//! as sent ([`KeychainError::Remote`]); a failure to reach a daemon or to
//! understand its reply is never dressed up as a daemon's refusal, so a
//! caller can tell "the service said no" from "the service could not be
//! asked" ([`KeychainError::is_transport`]). No variant carries an argument
//! value or a reply value: only op names, field names and service names.

use crate::service::Service;
use nexus_core::{Coded, ErrorCode};
use wire::ClientError;

/// What a keychain call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeychainError {
    /// The service answered with an error: its stable code and message.
    #[error("{code}: {msg}")]
    Remote {
        /// The stable code.
        code: ErrorCode,
        /// The service's message (for people; never parse it).
        msg: String,
    },
    /// The service could not be reached, or the connection failed during
    /// the call.
    #[error("{service}: {source}")]
    Transport {
        /// Which service.
        service: Service,
        /// What went wrong on the wire.
        #[source]
        source: ClientError,
    },
    /// No endpoint for the service arrived from the supervisor in time.
    #[error("{service}: no endpoint from the supervisor")]
    NoEndpoint {
        /// Which service.
        service: Service,
    },
    /// The service sent a reply that does not have the documented shape.
    #[error("{service}: malformed reply to {op}: {detail}")]
    BadReply {
        /// Which service.
        service: Service,
        /// The op answered.
        op: &'static str,
        /// What is wrong (a field name and the problem, never a value).
        detail: String,
    },
    /// The request cannot be sent: too large for one frame, or an
    /// argument the client refuses before sending.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl KeychainError {
    /// Whether this is a failure to talk to the service (not an answer
    /// from it): unreachable, connection lost, timed out, no endpoint,
    /// or a reply that could not be understood.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            KeychainError::Transport { .. }
                | KeychainError::NoEndpoint { .. }
                | KeychainError::BadReply { .. }
        )
    }

    /// The code of a service's refusal, if this is one.
    pub fn remote_code(&self) -> Option<ErrorCode> {
        match self {
            KeychainError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn from_client(service: Service, e: ClientError) -> KeychainError {
        match e {
            ClientError::Remote { code, msg } => KeychainError::Remote { code, msg },
            ClientError::Request(p) => KeychainError::Invalid(p.to_string()),
            source => KeychainError::Transport { service, source },
        }
    }
}

/// An argument over one of the public limits: refused before sending, with
/// the message the service would give (`EINVAL`, naming the limit).
impl From<nexus_proto::limits::TooLarge> for KeychainError {
    fn from(e: nexus_proto::limits::TooLarge) -> Self {
        KeychainError::Invalid(e.to_string())
    }
}

impl Coded for KeychainError {
    fn code(&self) -> ErrorCode {
        match self {
            KeychainError::Remote { code, .. } => *code,
            KeychainError::Invalid(_) => ErrorCode::Einval,
            KeychainError::Transport { source, .. } => match source {
                // A timeout means the service may still be working: busy.
                ClientError::Timeout => ErrorCode::Ebusy,
                _ => ErrorCode::Eio,
            },
            KeychainError::NoEndpoint { .. } => ErrorCode::Ebusy,
            KeychainError::BadReply { .. } => ErrorCode::Eio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_errors_keep_code_and_message() {
        let e = KeychainError::from_client(
            Service::Keystored,
            ClientError::Remote {
                code: ErrorCode::Elocked,
                msg: "session is locked".into(),
            },
        );
        assert_eq!(e.code(), ErrorCode::Elocked);
        assert_eq!(e.remote_code(), Some(ErrorCode::Elocked));
        assert!(!e.is_transport());
        assert_eq!(e.to_string(), "ELOCKED: session is locked");
    }

    #[test]
    fn transport_errors_are_distinct() {
        let e = KeychainError::from_client(Service::Attestd, ClientError::Closed);
        assert!(e.is_transport());
        assert_eq!(e.remote_code(), None);
        assert_eq!(e.code(), ErrorCode::Eio);
        assert!(e.to_string().starts_with("attestd: "));
        let t = KeychainError::from_client(Service::Identityd, ClientError::Timeout);
        assert_eq!(t.code(), ErrorCode::Ebusy);
        assert!(t.is_transport());
    }
}
