//! The errors that cross the wire ([`WireError`]) and the errors a client
//! sees ([`ClientError`]).
//!
//! Invariant: a [`WireError`] message is at most [`MAX_ERROR_MSG_LEN`]
//! bytes and holds no control characters, so it is safe in a log line or on
//! a terminal. It must never hold a secret: handlers build it from the
//! `Display` of domain errors, which by project rule carry no secret values,
//! and a handler that writes its own message is responsible for the same.

use crate::frame::FrameError;
use crate::message::ProtocolError;
use nexus_core::{Coded, ErrorCode};
use std::fmt;
use std::io;

/// The longest error message sent on the wire, in bytes.
pub const MAX_ERROR_MSG_LEN: usize = 1024;

/// An error reply: a stable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    code: ErrorCode,
    msg: String,
}

impl WireError {
    /// An error with `code` and `msg` (cut to [`MAX_ERROR_MSG_LEN`] bytes,
    /// control characters replaced by `?`).
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> WireError {
        let msg = msg.into();
        let mut clean = String::with_capacity(msg.len().min(MAX_ERROR_MSG_LEN));
        for c in msg.chars() {
            if clean.len() + c.len_utf8() > MAX_ERROR_MSG_LEN {
                break;
            }
            clean.push(if c.is_control() { '?' } else { c });
        }
        WireError { code, msg: clean }
    }

    /// The one place a domain error becomes a wire error: its code, and its
    /// `Display` as the message.
    pub fn from_coded<E: Coded + fmt::Display + ?Sized>(e: &E) -> WireError {
        WireError::new(e.code(), e.to_string())
    }

    /// `EINVAL "unknown op: <op>"`, for a handler that does not know `op`.
    /// The op name is safe to echo: the decoder only admits `[A-Za-z0-9._-]`.
    pub fn unknown_op(op: &str) -> WireError {
        WireError::new(ErrorCode::Einval, format!("unknown op: {op}"))
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn msg(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.msg)
    }
}

impl std::error::Error for WireError {}

/// Lets a handler use `?` on any domain error (and on argument errors).
/// `WireError` itself deliberately does not implement `Coded`, which keeps
/// this blanket conversion coherent.
impl<E: Coded + fmt::Display> From<E> for WireError {
    fn from(e: E) -> WireError {
        WireError::from_coded(&e)
    }
}

/// What a client call can fail with: an error reply from the service
/// ([`ClientError::Remote`]) or a failure of the transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service answered with an error.
    #[error("{code}: {msg}")]
    Remote {
        /// The stable code.
        code: ErrorCode,
        /// The service's message.
        msg: String,
    },
    /// The socket could not be connected.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// Reading or writing failed.
    #[error("transport error: {0}")]
    Io(io::Error),
    /// No complete reply arrived within the call timeout.
    #[error("timed out waiting for the reply")]
    Timeout,
    /// The service closed the connection.
    #[error("the service closed the connection")]
    Closed,
    /// The service sent something that is not a valid reply (or a reply
    /// to another request).
    #[error("invalid reply: {0}")]
    Protocol(ProtocolError),
    /// The reply frame was malformed at the framing level.
    #[error("invalid reply frame: {0}")]
    Frame(FrameError),
    /// The request could not be built (bad op name, too large).
    #[error("invalid request: {0}")]
    Request(ProtocolError),
    /// An earlier failure left the connection in an unknown state.
    #[error("the connection is unusable after an earlier failure")]
    Broken,
}

impl ClientError {
    /// The code of a remote error, if this is one.
    pub fn remote_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the connection was lost (closed, reset, broken pipe), so
    /// that a fresh connection may succeed. A timeout is not a loss: the
    /// request may still be executing.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            ClientError::Closed | ClientError::Broken => true,
            ClientError::Io(e) | ClientError::Frame(FrameError::Io(e)) => matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::NotConnected
                    | io::ErrorKind::UnexpectedEof
            ),
            ClientError::Frame(FrameError::Truncated) => true,
            _ => false,
        }
    }
}

impl Coded for ClientError {
    fn code(&self) -> ErrorCode {
        match self {
            ClientError::Remote { code, .. } => *code,
            ClientError::Request(e) => e.code(),
            ClientError::Connect(_)
            | ClientError::Io(_)
            | ClientError::Timeout
            | ClientError::Closed
            | ClientError::Protocol(_)
            | ClientError::Frame(_)
            | ClientError::Broken => ErrorCode::Eio,
        }
    }
}

impl From<WireError> for ClientError {
    fn from(e: WireError) -> ClientError {
        ClientError::Remote {
            code: e.code,
            msg: e.msg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("key k1 not found")]
    struct NotFound;
    impl Coded for NotFound {
        fn code(&self) -> ErrorCode {
            ErrorCode::Enoent
        }
    }

    fn lookup() -> Result<(), NotFound> {
        Err(NotFound)
    }

    fn handler() -> Result<(), WireError> {
        lookup()?;
        Ok(())
    }

    #[test]
    fn domain_errors_convert_with_their_code() {
        let e = handler().unwrap_err();
        assert_eq!(e.code(), ErrorCode::Enoent);
        assert_eq!(e.msg(), "key k1 not found");
        assert_eq!(
            WireError::unknown_op("nope").to_string(),
            "EINVAL: unknown op: nope"
        );
    }

    #[test]
    fn messages_are_bounded_and_printable() {
        let e = WireError::new(ErrorCode::Eio, "a\u{1b}[2Jb\nc");
        assert_eq!(e.msg(), "a?[2Jb?c");
        let long = WireError::new(ErrorCode::Eio, "é".repeat(MAX_ERROR_MSG_LEN));
        assert!(long.msg().len() <= MAX_ERROR_MSG_LEN);
        assert!(long.msg().len() >= MAX_ERROR_MSG_LEN - 1);
    }
}
