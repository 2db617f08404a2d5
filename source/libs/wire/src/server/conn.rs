//! One connection: admission, subject resolution, and the request loop.
//!
//! Invariants:
//! - A frame that cannot be a request (over the limit, empty, bad CBOR,
//!   wrong shape) is answered with `EINVAL` and the connection is closed:
//!   after a framing error the stream position can no longer be trusted.
//!   A truncated frame or a stalled one is closed without a reply.
//! - A handler panic is caught, logged without its payload, answered with
//!   `EIO`; the connection stays open.
//! - Every admitted connection releases its slot when its thread ends, by
//!   a drop guard, whatever path the thread takes.

use super::{Inner, PeerCred, ServerError, SubjectResolver};
use crate::error::WireError;
use crate::frame::{self, FrameError, TimedReader};
use crate::message::{decode_request, encode_reply};
use crate::MAX_FRAME_LEN;
use ciborium::Value;
use nexus_core::{ErrorCode, Subject};
use rustix::net::SendFlags;
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::subject::CallContext;

/// How a connection arrived, which decides how its subject is known.
pub(crate) enum Origin {
    /// Accepted on a public socket: ask the resolver about the peer.
    Public(Arc<dyn SubjectResolver>),
    /// Handed over with a fixed subject.
    Fixed(Subject),
}

/// Releases the connection's slot however its thread ends.
struct Slot {
    inner: Arc<Inner>,
    id: u64,
    public: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.release(self.id, self.public);
    }
}

pub(crate) fn accept_loop(
    inner: &Arc<Inner>,
    listener: &UnixListener,
    resolver: &Arc<dyn SubjectResolver>,
) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if inner.is_stopping() {
                    break;
                }
                // Refusals are answered inside admit; nothing more to do.
                let _ = admit(inner, stream, Origin::Public(Arc::clone(resolver)));
            }
            Err(_) if inner.is_stopping() => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                eprintln!("wire: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Send one error reply without blocking (a fresh socket's buffer always
/// has room for it) and drop the connection.
fn refuse(stream: UnixStream, code: ErrorCode, msg: &str) {
    let err = WireError::new(code, msg);
    if let Ok(body) = encode_reply(0, Err(&err)) {
        if let Ok(bytes) = frame::encode_frame(&body, MAX_FRAME_LEN) {
            let _ = rustix::net::send(&stream, &bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT);
        }
    }
}

pub(crate) fn admit(
    inner: &Arc<Inner>,
    stream: UnixStream,
    origin: Origin,
) -> Result<(), ServerError> {
    let public = matches!(origin, Origin::Public(_));
    let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let second = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            refuse(stream, ErrorCode::Ebusy, "server out of resources");
            return Err(ServerError::Spawn(e));
        }
    };
    {
        let mut c = inner.conns();
        if c.stopping {
            drop(c);
            refuse(stream, ErrorCode::Ebusy, "server is shutting down");
            return Err(ServerError::ShuttingDown);
        }
        if public && c.public >= inner.config.max_connections {
            drop(c);
            refuse(stream, ErrorCode::Ebusy, "too many connections");
            return Err(ServerError::Full);
        }
        c.streams.insert(id, second);
        if public {
            c.public += 1;
        }
    }
    let slot = Slot {
        inner: Arc::clone(inner),
        id,
        public,
    };
    let spawned = thread::Builder::new()
        .name(format!("wire-conn-{id}"))
        .spawn(move || run(slot, stream, origin));
    match spawned {
        Ok(_) => Ok(()),
        // The closure (and with it the slot and the stream) was dropped, so
        // the slot is already released and the peer sees the close.
        Err(e) => Err(ServerError::Spawn(e)),
    }
}

fn run(slot: Slot, stream: UnixStream, origin: Origin) {
    let inner = &slot.inner;
    let (ctx, idle) = match origin {
        Origin::Fixed(subject) => (CallContext::for_connection(subject, None, slot.id), None),
        Origin::Public(resolver) => {
            let peer = match PeerCred::of(&stream) {
                Ok(p) => p,
                Err(_) => return refuse(stream, ErrorCode::Eio, "cannot read peer credentials"),
            };
            match resolver.resolve(&peer) {
                Ok(subject) => (
                    CallContext::for_connection(subject, Some(peer), slot.id),
                    inner.config.idle_timeout,
                ),
                Err(e) => return refuse(stream, e.code(), e.msg()),
            }
        }
    };
    if stream
        .set_write_timeout(Some(inner.config.write_timeout))
        .is_err()
    {
        return;
    }
    serve(inner, &stream, &ctx, idle);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn reply(stream: &UnixStream, id: u64, outcome: Result<&Value, &WireError>) -> bool {
    let body = match encode_reply(id, outcome) {
        Ok(b) => b,
        Err(e) => {
            // The handler's value does not fit in a frame (or could not be
            // encoded): the caller still gets an answer.
            let fallback = WireError::new(ErrorCode::Eio, e.to_string());
            match encode_reply(id, Err(&fallback)) {
                Ok(b) => b,
                Err(_) => return false,
            }
        }
    };
    match frame::encode_frame(&body, MAX_FRAME_LEN) {
        Ok(bytes) => frame::send_all(stream, &bytes).is_ok(),
        Err(_) => false,
    }
}

fn serve(inner: &Inner, stream: &UnixStream, ctx: &CallContext, idle: Option<Duration>) {
    loop {
        if inner.is_stopping() {
            return;
        }
        let mut reader = TimedReader::new(stream, idle, inner.config.frame_timeout);
        let body = match frame::read_frame(&mut reader, MAX_FRAME_LEN) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(e @ (FrameError::Oversize { .. } | FrameError::Empty)) => {
                let _ = reply(stream, 0, Err(&WireError::from_coded(&e)));
                return;
            }
            Err(
                FrameError::Truncated | FrameError::Idle | FrameError::TimedOut | FrameError::Io(_),
            ) => return,
        };
        let req = match decode_request(&body) {
            Ok(r) => r,
            Err(bad) => {
                let _ = reply(stream, bad.id, Err(&WireError::from_coded(&bad)));
                return;
            }
        };
        drop(body);
        let outcome = catch_unwind(AssertUnwindSafe(|| inner.handler.handle(ctx, &req)))
            .unwrap_or_else(|_| {
                eprintln!(
                    "wire: handler panicked on op `{}` (connection {}, subject {}); answered EIO",
                    req.op(),
                    ctx.connection_id(),
                    ctx.subject()
                );
                Err(WireError::new(ErrorCode::Eio, "internal error"))
            });
        let mut outcome = outcome;
        let sent = reply(stream, req.id(), outcome.as_ref());
        if let Ok(value) = outcome.as_mut() {
            crate::scrub::scrub_value(value);
        }
        if !sent {
            return;
        }
    }
}
