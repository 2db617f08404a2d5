//! The worker threads and what they do with each event: accept and admit,
//! read a request, execute it, write the reply, re-arm; and the sweep that
//! closes connections past their deadline.
//!
//! Invariants:
//! - Every socket is armed one-shot, so an event reaches one thread, and
//!   the connection is re-armed only once that thread is done with it
//!   (under the connection's state lock).
//! - A request is executed without the state lock held: the sweeper and
//!   shutdown never wait for a handler.
//! - There is always a thread waiting for events while any socket or
//!   connection is registered: a thread that wakes as the last waiting one
//!   starts another (up to the cap) before it works, and the last thread
//!   leaves only when nothing is registered ([`ensure_worker`] starts one
//!   again).
//! - A handler panic is caught, logged without its payload, answered with
//!   `EIO`; the connection stays open.
//! - Linger: the thread that answered a request (and had no parked request
//!   of the subject to run next), while another thread waits in epoll,
//!   keeps the connection unarmed and waits in a blocking `MSG_PEEK` for
//!   at most [`super::ServerConfig::linger`]. A request that arrives is
//!   served by that thread (at most `LINGER_STREAK` in a row), otherwise
//!   the connection is armed again. Only that thread touches the
//!   connection meanwhile (it is in no epoll ready list); the sweeper and
//!   shutdown end the wait by closing the connection, which the peek sees
//!   as EOF.

use super::conn::{Conn, ConnState, Input, Phase};
use super::{lock, Inner, Job, ListenerEntry, ServerError};
use crate::error::WireError;
use crate::frame::{self, FrameError};
use crate::message::{decode_request, encode_reply, Request};
use crate::server::subject::{CallContext, PeerCred, SubjectResolver};
use crate::MAX_FRAME_LEN;
use ciborium::Value;
use nexus_core::{ErrorCode, Subject};
use rustix::event::epoll;
use rustix::net::{RecvFlags, SendFlags};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Armed for input, one event per arming.
pub(crate) const ARM_IN: epoll::EventFlags =
    epoll::EventFlags::IN.union(epoll::EventFlags::ONESHOT);
/// Armed for output (a reply the socket did not take at once).
const ARM_OUT: epoll::EventFlags = epoll::EventFlags::OUT.union(epoll::EventFlags::ONESHOT);

/// How long a thread beyond the ones needed waits for work before it ends.
const LINGER: Duration = Duration::from_secs(5);

/// Requests of one connection a thread serves in a row through its
/// linger before the connection goes back to epoll.
const LINGER_STREAK: usize = 16;

/// Connections accepted per listener event before others get a turn.
const ACCEPT_BATCH: usize = 64;

/// Make sure a thread serves the epoll set.
pub(crate) fn ensure_worker(inner: &Arc<Inner>) -> Result<(), ServerError> {
    let mut p = lock(&inner.pool);
    if p.total > 0 {
        return Ok(());
    }
    p.total += 1;
    p.idle += 1;
    drop(p);
    spawn(inner).map_err(ServerError::Spawn)
}

/// Start a thread already counted (in `total` and `idle`) by the caller;
/// undo the count if it cannot start.
fn spawn(inner: &Arc<Inner>) -> std::io::Result<()> {
    let for_thread = Arc::clone(inner);
    let started = thread::Builder::new()
        .name("wire-worker".into())
        .spawn(move || work(&for_thread));
    if started.is_err() {
        let mut p = lock(&inner.pool);
        p.total -= 1;
        p.idle -= 1;
    }
    started.map(drop)
}

fn work(inner: &Arc<Inner>) {
    let mut events = epoll::EventVec::with_capacity(1);
    // Counted idle by whoever started this thread.
    let mut counted = true;
    loop {
        let Ok(poll) = inner.poll() else {
            let mut p = lock(&inner.pool);
            p.total -= 1;
            p.idle -= 1;
            return;
        };
        if !counted {
            lock(&inner.pool).idle += 1;
        }
        counted = false;
        let waited = epoll::wait(poll, &mut events, wait_ms(inner));
        let more = {
            let mut p = lock(&inner.pool);
            p.idle -= 1;
            let more = p.idle == 0 && p.total < inner.config.max_workers.max(1);
            if more {
                p.total += 1;
                p.idle += 1;
            }
            more
        };
        if more {
            if let Err(e) = spawn(inner) {
                eprintln!("wire: cannot start another worker: {e}");
            }
        }
        let event = match waited {
            Ok(()) => events.iter().next().map(|e| e.data.u64()),
            Err(rustix::io::Errno::INTR) => None,
            Err(e) => {
                eprintln!("wire: epoll_wait failed: {e}");
                thread::sleep(Duration::from_millis(100));
                None
            }
        };
        if let Some(id) = event {
            dispatch(inner, id);
        }
        sweep(inner);
        if should_exit(inner, event.is_none()) {
            return;
        }
    }
}

/// How long to wait for an event: until the next sweep, at most LINGER.
fn wait_ms(inner: &Inner) -> i32 {
    let next = *lock(&inner.next_sweep);
    let left = next.saturating_duration_since(Instant::now()).min(LINGER);
    i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX)
}

/// Whether this thread should end now (and, if so, it is uncounted).
fn should_exit(inner: &Inner, timed_out: bool) -> bool {
    let mut p = lock(&inner.pool);
    let no_conns = inner.table().conns.is_empty();
    let quiet = no_conns && lock(&inner.listeners).is_empty();
    let exit = (inner.is_stopping() && no_conns) || (timed_out && (p.idle >= 2 || quiet));
    if exit {
        p.total -= 1;
    }
    exit
}

fn dispatch(inner: &Arc<Inner>, id: u64) {
    let conn = inner.table().conns.get(&id).cloned();
    if let Some(c) = conn {
        on_conn(inner, &c);
        return;
    }
    let listener = lock(&inner.listeners).get(&id).cloned();
    if let Some(l) = listener {
        accept(inner, id, &l);
    }
}

fn accept(inner: &Arc<Inner>, id: u64, l: &ListenerEntry) {
    for _ in 0..ACCEPT_BATCH {
        if inner.is_stopping() {
            return;
        }
        match l.listener().accept() {
            Ok((stream, _)) => admit_public(inner, stream, l.resolver.as_ref()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                eprintln!("wire: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                break;
            }
        }
    }
    if let Ok(poll) = inner.poll() {
        // Fails harmlessly if shutdown removed the listener meanwhile.
        let _ = epoll::modify(poll, l.listener(), epoll::EventData::new_u64(id), ARM_IN);
    }
}

/// Send one error reply without blocking (a fresh socket's buffer always
/// has room for it); the caller drops the connection.
fn refuse(stream: &UnixStream, code: ErrorCode, msg: &str) {
    let err = WireError::new(code, msg);
    if let Ok(body) = encode_reply(0, Err(&err)) {
        if let Ok(bytes) = frame::encode_frame(&body, MAX_FRAME_LEN) {
            let _ = rustix::net::send(stream, &bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT);
        }
    }
}

/// Make a connection's socket ready to serve: every read and write of the
/// server passes `MSG_DONTWAIT`, so the socket itself blocks only the
/// lingering peek ([`linger`]), for at most [`ServerConfig::linger`]
/// (`SO_RCVTIMEO`). Without a linger it is simply non-blocking.
///
/// [`ServerConfig::linger`]: super::ServerConfig::linger
fn prepare(inner: &Inner, stream: &UnixStream) -> std::io::Result<()> {
    match inner.config.linger {
        Some(t) if !t.is_zero() => {
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(t))
        }
        _ => stream.set_nonblocking(true),
    }
}

fn admit_public(inner: &Arc<Inner>, stream: UnixStream, resolver: &dyn SubjectResolver) {
    if prepare(inner, &stream).is_err() {
        return;
    }
    let peer = match PeerCred::of(&stream) {
        Ok(p) => p,
        Err(_) => return refuse(&stream, ErrorCode::Eio, "cannot read peer credentials"),
    };
    let subject = match resolver.resolve(&peer) {
        Ok(s) => s,
        Err(e) => return refuse(&stream, e.code(), e.msg()),
    };
    let id = inner.new_id();
    let ctx = CallContext::for_connection(subject, Some(peer), id);
    let deadline = inner.config.idle_timeout.map(|t| Instant::now() + t);
    let conn = Arc::new(Conn::new(id, stream, ctx, true, deadline));
    {
        let mut t = inner.table();
        if t.stopping {
            drop(t);
            return refuse(&conn.stream, ErrorCode::Ebusy, "server is shutting down");
        }
        if let Err(r) = t.admission.admit(&inner.caps, conn.ctx.subject()) {
            drop(t);
            return refuse(&conn.stream, ErrorCode::Ebusy, r.message());
        }
        t.conns.insert(id, Arc::clone(&conn));
    }
    if let Err(e) = register(inner, &conn) {
        eprintln!("wire: cannot watch a connection: {e}");
    }
}

/// Serve a handed-over endpoint (see `Server::add_connection`).
pub(crate) fn add_endpoint(
    inner: &Arc<Inner>,
    stream: UnixStream,
    subject: Subject,
) -> Result<(), ServerError> {
    if inner.is_stopping() {
        refuse(&stream, ErrorCode::Ebusy, "server is shutting down");
        return Err(ServerError::ShuttingDown);
    }
    inner.poll()?;
    prepare(inner, &stream).map_err(ServerError::Spawn)?;
    let id = inner.new_id();
    let ctx = CallContext::for_connection(subject, None, id);
    let conn = Arc::new(Conn::new(id, stream, ctx, false, None));
    {
        let mut t = inner.table();
        if t.stopping {
            drop(t);
            refuse(&conn.stream, ErrorCode::Ebusy, "server is shutting down");
            return Err(ServerError::ShuttingDown);
        }
        t.conns.insert(id, Arc::clone(&conn));
    }
    register(inner, &conn).map_err(ServerError::Spawn)?;
    ensure_worker(inner)
}

/// Put a connection already in the table into the epoll set; on failure
/// it is closed.
fn register(inner: &Arc<Inner>, conn: &Arc<Conn>) -> std::io::Result<()> {
    let added = inner
        .poll()
        .map_err(|_| std::io::Error::other("no epoll instance"))
        .and_then(|poll| {
            epoll::add(
                poll,
                &conn.stream,
                epoll::EventData::new_u64(conn.id),
                ARM_IN,
            )
            .map_err(std::io::Error::from)
        });
    if added.is_err() {
        close(inner, conn, conn.state());
    }
    added
}

fn on_conn(inner: &Arc<Inner>, conn: &Arc<Conn>) {
    // Each turn reads one request; a turn that answered it here and
    // found the next one arriving within the linger takes that one too,
    // up to LINGER_STREAK in a row before the connection queues in epoll
    // like everyone else's.
    let mut streak = 0;
    loop {
        let mut st = conn.state();
        match st.phase {
            Phase::Reading => {}
            Phase::Writing => {
                write_out(inner, conn, st, false);
                return;
            }
            Phase::Busy | Phase::Closed => return,
        }
        match st.read(&conn.stream) {
            Input::Pending { started } => {
                if started && !st.in_frame {
                    st.in_frame = true;
                    st.deadline = Some(Instant::now() + inner.config.frame_timeout);
                }
                return arm(inner, conn, st, ARM_IN);
            }
            Input::Closed
            | Input::Failed(FrameError::Truncated | FrameError::Io(_))
            | Input::Failed(FrameError::Idle | FrameError::TimedOut) => {
                return close(inner, conn, st)
            }
            Input::Failed(e @ (FrameError::Oversize { .. } | FrameError::Empty)) => {
                let err = WireError::from_coded(&e);
                return answer_and_close(inner, conn, st, 0, &err);
            }
            Input::Frame(body) => {
                st.in_frame = false;
                match decode_request(&body) {
                    Err(bad) => {
                        let err = WireError::from_coded(&bad);
                        return answer_and_close(inner, conn, st, bad.id, &err);
                    }
                    Ok(req) => {
                        drop(body);
                        st.phase = Phase::Busy;
                        st.deadline = None;
                        drop(st);
                        if !execute(inner, Arc::clone(conn), req) {
                            return;
                        }
                        streak += 1;
                        if streak >= LINGER_STREAK {
                            return rearm(inner, conn);
                        }
                        if !linger(inner, conn) {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Wait (blocking, at most the configured linger) for the next request of
/// a connection this thread has just answered and left unarmed. `true`:
/// something arrived (or the peer closed), read it now; `false`: nothing
/// did, and the connection is back in epoll (unless it was closed
/// meanwhile). A wakeup from a blocked read costs less than one through
/// epoll, and a client that calls again at once is served by the thread
/// that is already awake for it.
fn linger(inner: &Arc<Inner>, conn: &Arc<Conn>) -> bool {
    // Only while another thread waits in epoll for everyone else: with
    // every thread busy, a lingering thread would keep serving its own hot
    // client while the others' requests queue.
    let spare = lock(&inner.pool).idle > 0;
    if spare && !inner.is_stopping() {
        let mut probe = [0u8; 1];
        // MSG_PEEK: nothing is consumed; the frame is read as usual.
        // Times out with EAGAIN after SO_RCVTIMEO (the linger). Shutdown
        // and the sweeper end it by shutting the socket down (EOF).
        if rustix::net::recv(&conn.stream, &mut probe, RecvFlags::PEEK).is_ok() {
            return true;
        }
    }
    let st = conn.state();
    if st.phase == Phase::Reading {
        arm(inner, conn, st, ARM_IN);
    }
    false
}

/// Answer a frame that was not a valid request, then close: after a
/// framing error the stream position cannot be trusted.
fn answer_and_close(
    inner: &Arc<Inner>,
    conn: &Arc<Conn>,
    mut st: MutexGuard<'_, ConnState>,
    id: u64,
    err: &WireError,
) {
    match reply_frame(id, Err(err)) {
        Some(bytes) => {
            st.queue(bytes);
            st.close_after = true;
            write_out(inner, conn, st, false);
        }
        None => close(inner, conn, st),
    }
}

/// Run a request, then (as long as there are any) its subject's parked
/// ones in its place. Returns whether the first request's connection was
/// answered here and left unarmed for this thread to linger on: only when
/// a linger is configured and no parked request followed (those go
/// first, and the connection is armed for the others meanwhile).
fn execute(inner: &Arc<Inner>, conn: Arc<Conn>, req: Request) -> bool {
    let subject = conn.ctx.subject().clone();
    let Some(mut job): Option<Job> = lock(&inner.fair).start(&subject, (conn, req)) else {
        return false;
    };
    let lingers = inner.config.linger.is_some_and(|t| !t.is_zero());
    // The first job's connection, while it waits unarmed for our linger.
    let mut own: Option<Arc<Conn>> = None;
    let mut first = true;
    loop {
        let (conn, req) = job;
        let kept = answer(inner, &conn, &req, first && lingers);
        drop(req);
        if kept {
            own = Some(conn);
        }
        first = false;
        match lock(&inner.fair).finish(&subject) {
            Some(next) => {
                if let Some(c) = own.take() {
                    rearm(inner, &c);
                }
                job = next;
            }
            None => return own.is_some(),
        }
    }
}

/// Arm a connection left unarmed for a linger, unless it was closed.
fn rearm(inner: &Arc<Inner>, conn: &Arc<Conn>) {
    let st = conn.state();
    if st.phase == Phase::Reading {
        arm(inner, conn, st, ARM_IN);
    }
}

/// Answer one request. With `keep`, a connection whose reply went out
/// whole is left unarmed for the caller's linger; returns whether it was.
fn answer(inner: &Arc<Inner>, conn: &Arc<Conn>, req: &Request, keep: bool) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(|| inner.handler.handle(&conn.ctx, req)))
        .unwrap_or_else(|_| {
            eprintln!(
                "wire: handler panicked on op `{}` (connection {}, subject {}); answered EIO",
                req.op(),
                conn.ctx.connection_id(),
                conn.ctx.subject()
            );
            Err(WireError::new(ErrorCode::Eio, "internal error"))
        });
    let mut outcome = outcome;
    let bytes = reply_frame(req.id(), outcome.as_ref());
    if let Ok(value) = outcome.as_mut() {
        crate::scrub::scrub_value(value);
    }
    let mut st = conn.state();
    if st.phase == Phase::Closed {
        return false;
    }
    match bytes {
        Some(b) => {
            st.queue(b);
            write_out(inner, conn, st, keep)
        }
        None => {
            close(inner, conn, st);
            false
        }
    }
}

/// The frame of a reply. A value too large for a frame (or that cannot be
/// encoded) becomes an `EIO` reply, so the caller still gets an answer.
fn reply_frame(id: u64, outcome: Result<&Value, &WireError>) -> Option<Zeroizing<Vec<u8>>> {
    let body = match encode_reply(id, outcome) {
        Ok(b) => b,
        Err(e) => {
            let fallback = WireError::new(ErrorCode::Eio, e.to_string());
            encode_reply(id, Err(&fallback)).ok()?
        }
    };
    frame::encode_frame(&body, MAX_FRAME_LEN).ok()
}

/// Write what the socket takes of the queued reply; then wait for the
/// next request, for more room, or close. With `keep`, a reply written
/// whole leaves the connection reading but unarmed, for the caller to
/// linger on; returns whether it did.
fn write_out(
    inner: &Arc<Inner>,
    conn: &Arc<Conn>,
    mut st: MutexGuard<'_, ConnState>,
    keep: bool,
) -> bool {
    match st.flush(&conn.stream) {
        Ok(true) => {
            if st.close_after || inner.is_stopping() {
                close(inner, conn, st);
                return false;
            }
            st.phase = Phase::Reading;
            st.deadline = if conn.public {
                inner.config.idle_timeout.map(|t| Instant::now() + t)
            } else {
                None
            };
            if keep {
                return true;
            }
            arm(inner, conn, st, ARM_IN);
        }
        Ok(false) => {
            if st.phase != Phase::Writing {
                st.phase = Phase::Writing;
                st.deadline = Some(Instant::now() + inner.config.write_timeout);
            }
            arm(inner, conn, st, ARM_OUT);
        }
        Err(_) => close(inner, conn, st),
    }
    false
}

fn arm(
    inner: &Arc<Inner>,
    conn: &Arc<Conn>,
    st: MutexGuard<'_, ConnState>,
    flags: epoll::EventFlags,
) {
    let armed = inner.poll().is_ok_and(|poll| {
        epoll::modify(
            poll,
            &conn.stream,
            epoll::EventData::new_u64(conn.id),
            flags,
        )
        .is_ok()
    });
    if !armed {
        close(inner, conn, st);
    }
}

/// Close a connection and give back its slot.
fn close(inner: &Inner, conn: &Conn, mut st: MutexGuard<'_, ConnState>) {
    if st.phase == Phase::Closed {
        return;
    }
    st.phase = Phase::Closed;
    if let Ok(poll) = inner.poll() {
        let _ = epoll::delete(poll, &conn.stream);
    }
    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
    drop(st);
    let mut t = inner.table();
    if t.conns.remove(&conn.id).is_some() && conn.public {
        t.admission.release(conn.ctx.subject());
    }
    inner.changed.notify_all();
}

/// On shutdown: close a connection waiting for a request; let one with a
/// request in hand finish, answer and then close.
pub(crate) fn stop_conn(inner: &Inner, conn: &Conn) {
    let mut st = conn.state();
    match st.phase {
        Phase::Reading => close(inner, conn, st),
        Phase::Busy | Phase::Writing => st.close_after = true,
        Phase::Closed => {}
    }
}

/// Close every connection past its deadline, if a sweep is due. Only one
/// thread sweeps at a time; connections another thread is working on are
/// left for the next sweep.
fn sweep(inner: &Inner) {
    let now = Instant::now();
    {
        let Ok(mut next) = inner.next_sweep.try_lock() else {
            return;
        };
        if now < *next {
            return;
        }
        *next = now + inner.config.sweep_period();
    }
    let conns: Vec<Arc<Conn>> = inner.table().conns.values().cloned().collect();
    for c in conns {
        let Some(st) = c.try_state() else { continue };
        let expired = matches!(st.phase, Phase::Reading | Phase::Writing)
            && st.deadline.is_some_and(|d| d <= now);
        if expired {
            close(inner, &c, st);
        }
    }
}
