//! Frames: a 4-byte big-endian length, then that many bytes of body.
//!
//! Invariants: a length above the caller's limit (at most
//! [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN)) or of zero is refused before a
//! single body byte is read or allocated. [`read_frame`] (the clients' and
//! the handoff's reader) then allocates the announced length, zeroed, in
//! one piece; the server reads frames with its own non-blocking reader,
//! whose buffer grows only as bytes arrive. End of stream exactly at a
//! frame boundary is a clean close; anywhere else it is
//! [`FrameError::Truncated`].

use nexus_core::{Coded, ErrorCode};
use rustix::net::{RecvFlags, SendFlags};
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::time::Instant;
use zeroize::Zeroizing;

/// Size of the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversize {
        /// The announced length.
        len: u32,
        /// The limit in force.
        max: usize,
    },
    /// The length prefix is zero; a frame always holds one CBOR item.
    #[error("empty frame")]
    Empty,
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// Nothing arrived while waiting for a new frame (idle timeout).
    #[error("idle timeout")]
    Idle,
    /// A frame was started but not completed in time.
    #[error("timed out inside a frame")]
    TimedOut,
    /// The transport failed.
    #[error("transport error: {0}")]
    Io(#[from] io::Error),
}

impl Coded for FrameError {
    fn code(&self) -> ErrorCode {
        match self {
            FrameError::Oversize { .. } | FrameError::Empty => ErrorCode::Einval,
            FrameError::Truncated | FrameError::Idle | FrameError::TimedOut | FrameError::Io(_) => {
                ErrorCode::Eio
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Read one frame body from `r`, refusing bodies longer than `max`.
///
/// Returns `Ok(None)` when the stream ends cleanly before the first byte of
/// a frame. A read that times out before the first byte is
/// [`FrameError::Idle`]; after it, [`FrameError::TimedOut`].
pub fn read_frame<R: Read>(
    r: &mut R,
    max: usize,
) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
    let mut prefix = [0u8; PREFIX_LEN];
    let mut got = 0;
    while got < PREFIX_LEN {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && got == 0 => return Err(FrameError::Idle),
            Err(e) if is_timeout(&e) => return Err(FrameError::TimedOut),
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(prefix);
    let want = usize::try_from(len).map_err(|_| FrameError::Oversize { len, max })?;
    if want > max {
        return Err(FrameError::Oversize { len, max });
    }
    if want == 0 {
        return Err(FrameError::Empty);
    }
    // Exactly sized (at most `max`, checked above) and wiped on drop: a
    // frame may carry secrets, and a growing buffer would leave copies in
    // the memory it outgrew.
    let mut body = Zeroizing::new(vec![0u8; want]);
    let mut filled = 0;
    while filled < want {
        match r.read(&mut body[filled..]) {
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(FrameError::TimedOut),
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(Some(body))
}

/// The bytes of one frame: length prefix and body. Refuses an empty body or
/// one longer than `max`.
pub fn encode_frame(body: &[u8], max: usize) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let len = u32::try_from(body.len()).map_err(|_| FrameError::Oversize { len: u32::MAX, max })?;
    if body.len() > max {
        return Err(FrameError::Oversize { len, max });
    }
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(PREFIX_LEN + body.len()));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Write all of `bytes` to `stream` with `MSG_NOSIGNAL`, so that a peer
/// that went away yields `EPIPE` instead of killing the process with
/// `SIGPIPE`. The socket's send timeout bounds each blocking send.
pub fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(stream, bytes, SendFlags::NOSIGNAL) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether the peer of `stream` has closed it (or sent bytes nobody asked
/// for), checked without blocking and without consuming anything.
pub fn peer_gone(stream: &UnixStream) -> bool {
    let mut probe = [0u8; 1];
    match rustix::net::recv(stream, &mut probe, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Err(rustix::io::Errno::AGAIN) => false,
        // EOF, an unsolicited byte, or an error: the connection is unusable.
        Ok(_) | Err(_) => true,
    }
}

/// A reader over a Unix stream whose whole frame, first byte included,
/// must arrive by a deadline (the client's call timeout).
pub(crate) struct TimedReader<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl<'a> TimedReader<'a> {
    /// A reader whose whole frame must arrive by `deadline`.
    pub(crate) fn until(stream: &'a UnixStream, deadline: Instant) -> Self {
        TimedReader { stream, deadline }
    }
}

impl Read for TimedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clean_eof() {
        let framed = encode_frame(b"\xa0", 16).unwrap();
        assert_eq!(framed.as_slice(), &b"\0\0\0\x01\xa0"[..]);
        let mut two = framed.clone();
        two.extend_from_slice(&framed);
        let mut r = &two[..];
        assert_eq!(
            read_frame(&mut r, 16).unwrap().unwrap().as_slice(),
            &b"\xa0"[..]
        );
        assert_eq!(
            read_frame(&mut r, 16).unwrap().unwrap().as_slice(),
            &b"\xa0"[..]
        );
        assert!(read_frame(&mut r, 16).unwrap().is_none());
    }

    #[test]
    fn test_reject_bad_frames() {
        let mut over = &b"\0\0\0\x11rest"[..];
        let e = read_frame(&mut over, 16).unwrap_err();
        assert!(matches!(e, FrameError::Oversize { len: 17, max: 16 }));
        assert_eq!(e.code(), ErrorCode::Einval);
        // A 4 GiB announcement is refused without allocating.
        let mut huge = &b"\xff\xff\xff\xff"[..];
        assert!(matches!(
            read_frame(&mut huge, crate::MAX_FRAME_LEN),
            Err(FrameError::Oversize { .. })
        ));
        let mut empty = &b"\0\0\0\0"[..];
        assert_eq!(
            read_frame(&mut empty, 16).unwrap_err().code(),
            ErrorCode::Einval
        );
        for cut in [&b"\0"[..], b"\0\0\0", b"\0\0\0\x02\xa0"] {
            let mut r = cut;
            assert!(matches!(read_frame(&mut r, 16), Err(FrameError::Truncated)));
        }
        assert!(matches!(encode_frame(b"", 16), Err(FrameError::Empty)));
        assert!(matches!(
            encode_frame(&[0; 17], 16),
            Err(FrameError::Oversize { .. })
        ));
    }
}
