//! Agent messages on a stream: a `uint32` length, then that many bytes.
//!
//! Invariants: a connection may sit idle between messages for as long as
//! the client likes, but a message, once its first byte arrived, must be
//! complete within [`MESSAGE_TIMEOUT`]; a length of zero or over
//! [`MAX_MESSAGE_LEN`] ends the connection without reading (or
//! allocating) the announced body; message buffers are zeroized when
//! dropped, since a body may carry a passphrase or a private key.

use crate::proto::MAX_MESSAGE_LEN;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use thiserror::Error;
use zeroize::Zeroizing;

/// How long a started message may take to arrive whole, and a reply to be
/// written.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no message could be read. Every variant ends the connection.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The peer closed the connection between messages.
    #[error("connection closed")]
    Closed,
    /// The announced length is zero.
    #[error("empty message")]
    Empty,
    /// The announced length is over the limit.
    #[error("message of {0} bytes exceeds the limit of {MAX_MESSAGE_LEN} bytes")]
    TooLong(u64),
    /// The stream failed, ended inside a message, or timed out.
    #[error("reading a message: {0}")]
    Io(#[from] io::Error),
}

/// Read one message body (type byte and contents).
pub fn read_message(stream: &mut UnixStream) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    stream.set_read_timeout(None)?;
    if stream.read(&mut len[..1])? == 0 {
        return Err(FrameError::Closed);
    }
    stream.set_read_timeout(Some(MESSAGE_TIMEOUT))?;
    stream.read_exact(&mut len[1..])?;
    let len = u32::from_be_bytes(len);
    let n = usize::try_from(len).map_err(|_| FrameError::TooLong(u64::from(len)))?;
    if n == 0 {
        return Err(FrameError::Empty);
    }
    if n > MAX_MESSAGE_LEN {
        return Err(FrameError::TooLong(u64::from(len)));
    }
    let mut body = Zeroizing::new(vec![0u8; n]);
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Write one message body with its length.
pub fn write_message(stream: &mut UnixStream, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "reply too long"))?;
    stream.set_write_timeout(Some(MESSAGE_TIMEOUT))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}
