//! A strict reader of the SSH wire types (RFC 4251 §5) inside one agent
//! message: `byte`, `boolean`, `uint32` and `string`.
//!
//! Invariants: every read checks that the bytes are there before taking
//! them, so a length prefix larger than what is left is an error and never
//! an allocation; strings are borrowed from the message (no copy, so a
//! secret inside a message is only ever in the message buffer, which the
//! caller zeroizes); [`Cursor::finish`] refuses trailing bytes.
//!
//! Why not `ssh_encoding::Decode` here: its length-prefixed reads allocate
//! the announced length before checking that the bytes exist, and a
//! fixed-size read inside a longer prefix leaves the surplus unread rather
//! than failing, which would let a malformed message shift every field
//! after it. The key types themselves still come from `ssh-key`.

use thiserror::Error;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The message ended inside a field.
    #[error("message truncated")]
    Truncated,
    /// Bytes were left after the last field.
    #[error("trailing bytes after the message")]
    Trailing,
    /// A field has a value the protocol does not allow (a boolean that is
    /// neither 0 nor 1, a fixed-size string of the wrong size).
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// A position inside one message body.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// Read from the start of `body`.
    pub fn new(body: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: body }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if n > self.rest.len() {
            return Err(ParseError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// One `byte`.
    pub fn byte(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }

    /// One `boolean`: 0 or 1 only.
    pub fn boolean(&mut self) -> Result<bool, ParseError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ParseError::Malformed("boolean")),
        }
    }

    /// One `uint32`, big-endian.
    pub fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// One `string`: a `uint32` length and that many bytes.
    pub fn string(&mut self) -> Result<&'a [u8], ParseError> {
        let len = usize::try_from(self.u32()?).map_err(|_| ParseError::Truncated)?;
        self.take(len)
    }

    /// A `string` that must be exactly `N` bytes long.
    pub fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<&'a [u8; N], ParseError> {
        self.string()?
            .try_into()
            .map_err(|_| ParseError::Malformed(what))
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Everything not read yet (an extension's opaque contents).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Succeed only if every byte was read.
    pub fn finish(&self) -> Result<(), ParseError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ParseError::Trailing)
        }
    }
}

/// Append the SSH `string` encoding of `bytes` to `out`.
pub fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every string the agent writes is far below 4 GiB (messages are
    // capped at 256 KiB); saturating keeps this total.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
