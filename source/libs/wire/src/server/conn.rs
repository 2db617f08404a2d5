//! One connection's state: reading a frame without blocking, the reply
//! being written, and the deadline that applies now.
//!
//! Invariants:
//! - At most one frame is read at a time, and never a byte past it: the
//!   prefix is read alone, then exactly the announced body. The next frame
//!   is read only once the reply to this one is written (one request at a
//!   time per connection).
//! - A length over the limit, or zero, is refused before any body byte is
//!   read or any buffer allocated. The body buffer grows as bytes arrive
//!   (doubling from 64 KiB), so a peer that announces 1 MiB and stalls
//!   holds only what it sent; every buffer it outgrows is wiped, and so is
//!   the frame once decoded (it may carry secrets).
//! - A connection's state is touched by one thread at a time: the socket
//!   is armed in epoll one-shot, and the state sits behind its own mutex
//!   for the sweeper and shutdown.

use super::subject::CallContext;
use crate::frame::{FrameError, PREFIX_LEN};
use crate::MAX_FRAME_LEN;
use rustix::net::{RecvFlags, SendFlags};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use zeroize::Zeroizing;

/// The first size of a body buffer; it doubles up to the announced length.
const FIRST_CHUNK: usize = 64 * 1024;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for (the rest of) a request frame; armed for input.
    Reading,
    /// A request is executing (or parked for its subject's turn); not armed.
    Busy,
    /// A reply is partly written; armed for output.
    Writing,
    /// Closed and out of the table.
    Closed,
}

/// The result of reading what is available.
pub(crate) enum Input {
    /// A whole frame body.
    Frame(Zeroizing<Vec<u8>>),
    /// Nothing more for now; whether a frame has been started.
    Pending { started: bool },
    /// The peer closed between frames.
    Closed,
    /// The frame cannot be read: over the limit or empty (answered with
    /// `EINVAL`), or truncated or failed (closed without a reply).
    Failed(FrameError),
}

/// A frame being read.
#[derive(Default)]
struct FrameIn {
    prefix: [u8; PREFIX_LEN],
    got: usize,
    want: usize,
    body: Zeroizing<Vec<u8>>,
    filled: usize,
}

impl FrameIn {
    fn started(&self) -> bool {
        self.got > 0
    }

    fn read(&mut self, stream: &UnixStream) -> Input {
        loop {
            let target: &mut [u8] = if self.got < PREFIX_LEN {
                self.prefix.get_mut(self.got..).unwrap_or_default()
            } else {
                if self.filled == self.body.len() {
                    self.grow();
                }
                self.body.get_mut(self.filled..).unwrap_or_default()
            };
            match rustix::net::recv(stream, target, RecvFlags::DONTWAIT) {
                Ok(0) if !self.started() => return Input::Closed,
                Ok(0) => return Input::Failed(FrameError::Truncated),
                Ok(n) if self.got < PREFIX_LEN => {
                    self.got += n;
                    if self.got == PREFIX_LEN {
                        let len = u32::from_be_bytes(self.prefix);
                        let want = usize::try_from(len).unwrap_or(usize::MAX);
                        if want > MAX_FRAME_LEN {
                            return Input::Failed(FrameError::Oversize {
                                len,
                                max: MAX_FRAME_LEN,
                            });
                        }
                        if want == 0 {
                            return Input::Failed(FrameError::Empty);
                        }
                        self.want = want;
                    }
                }
                Ok(n) => {
                    self.filled += n;
                    if self.filled == self.want {
                        let body = std::mem::take(&mut self.body);
                        *self = FrameIn::default();
                        return Input::Frame(body);
                    }
                }
                Err(rustix::io::Errno::AGAIN) => {
                    return Input::Pending {
                        started: self.started(),
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Input::Failed(FrameError::Io(e.into())),
            }
        }
    }

    /// Make room for more of the body: a zeroed buffer twice the size (at
    /// most the announced length), the old one wiped as it drops.
    fn grow(&mut self) {
        let size = (self.body.len() * 2).max(FIRST_CHUNK).min(self.want);
        let mut bigger = Zeroizing::new(vec![0u8; size]);
        if let (Some(dst), Some(src)) =
            (bigger.get_mut(..self.filled), self.body.get(..self.filled))
        {
            dst.copy_from_slice(src);
        }
        self.body = bigger;
    }
}

/// A reply on its way out.
struct FrameOut {
    bytes: Zeroizing<Vec<u8>>,
    sent: usize,
}

/// The mutable part of a connection.
pub(crate) struct ConnState {
    pub(crate) phase: Phase,
    input: FrameIn,
    output: Option<FrameOut>,
    /// When the connection is closed if nothing happens: the idle timeout
    /// (public, between frames), the frame timeout (once a frame started)
    /// or the write timeout (a reply pending).
    pub(crate) deadline: Option<Instant>,
    /// Close once the reply in hand is written (after a refused frame, or
    /// on shutdown).
    pub(crate) close_after: bool,
    /// A frame has started arriving (its deadline is the frame timeout).
    pub(crate) in_frame: bool,
}

impl ConnState {
    /// Read what is available of the current frame.
    pub(crate) fn read(&mut self, stream: &UnixStream) -> Input {
        self.input.read(stream)
    }

    /// Queue a whole reply frame.
    pub(crate) fn queue(&mut self, bytes: Zeroizing<Vec<u8>>) {
        self.output = Some(FrameOut { bytes, sent: 0 });
    }

    /// Write what the socket takes of the queued reply: `Ok(true)` once it
    /// is all out (or there was none).
    pub(crate) fn flush(&mut self, stream: &UnixStream) -> std::io::Result<bool> {
        let Some(out) = &mut self.output else {
            return Ok(true);
        };
        while out.sent < out.bytes.len() {
            let rest = out.bytes.get(out.sent..).unwrap_or_default();
            match rustix::net::send(stream, rest, SendFlags::NOSIGNAL | SendFlags::DONTWAIT) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => out.sent += n,
                Err(rustix::io::Errno::AGAIN) => return Ok(false),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.output = None;
        Ok(true)
    }
}

/// A connection being served.
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) stream: UnixStream,
    pub(crate) ctx: CallContext,
    /// Accepted on a public socket (counted against the caps, idle
    /// timeout applies).
    pub(crate) public: bool,
    state: Mutex<ConnState>,
}

impl Conn {
    /// A connection in the reading phase with `deadline` for its first
    /// frame.
    pub(crate) fn new(
        id: u64,
        stream: UnixStream,
        ctx: CallContext,
        public: bool,
        deadline: Option<Instant>,
    ) -> Conn {
        Conn {
            id,
            stream,
            ctx,
            public,
            state: Mutex::new(ConnState {
                phase: Phase::Reading,
                input: FrameIn::default(),
                output: None,
                deadline,
                close_after: false,
                in_frame: false,
            }),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, ConnState> {
        // A panic never happens while the state is held (handlers run
        // without it); if one did, the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn try_state(&self) -> Option<MutexGuard<'_, ConnState>> {
        match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn frames_arrive_in_pieces_and_never_past_their_end() {
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut f = FrameIn::default();
        assert!(matches!(f.read(&b), Input::Pending { started: false }));
        let body: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut framed = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        framed.extend_from_slice(&[0, 0, 0, 1, 0xa0]); // the next frame
        let writer = std::thread::spawn(move || {
            for piece in framed.chunks(7001) {
                a.write_all(piece).unwrap();
            }
            a
        });
        let got = loop {
            match f.read(&b) {
                Input::Frame(got) => break got,
                Input::Pending { .. } => std::thread::yield_now(),
                _ => panic!("unexpected input"),
            }
        };
        assert_eq!(got.as_slice(), body.as_slice());
        let a = writer.join().unwrap();
        // The next frame is still unread, whole.
        let next = loop {
            match f.read(&b) {
                Input::Frame(got) => break got,
                Input::Pending { .. } => std::thread::yield_now(),
                _ => panic!("unexpected input"),
            }
        };
        assert_eq!(next.as_slice(), &[0xa0]);
        drop(a);
        assert!(matches!(f.read(&b), Input::Closed));
    }

    #[test]
    fn test_reject_bad_lengths_before_any_allocation() {
        for (prefix, oversize) in [([0xff, 0xff, 0xff, 0xff], true), ([0, 0, 0, 0], false)] {
            let (mut a, b) = UnixStream::pair().unwrap();
            b.set_nonblocking(true).unwrap();
            a.write_all(&prefix).unwrap();
            let mut f = FrameIn::default();
            match f.read(&b) {
                Input::Failed(FrameError::Oversize { .. }) if oversize => {}
                Input::Failed(FrameError::Empty) if !oversize => {}
                _ => panic!("not refused"),
            }
            assert_eq!(f.body.capacity(), 0);
        }
        // A stalled 1 MiB frame holds only what arrived.
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        a.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
        a.write_all(&[0xa0; 10]).unwrap();
        let mut f = FrameIn::default();
        assert!(matches!(f.read(&b), Input::Pending { started: true }));
        assert_eq!(f.body.len(), FIRST_CHUNK);
        drop(a);
        assert!(matches!(f.read(&b), Input::Failed(FrameError::Truncated)));
    }
}
