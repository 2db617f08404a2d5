//! The server: accepts connections, one thread each, and calls the handler.
//!
//! Invariants:
//! - Public connections (accepted on a socket) are capped at
//!   [`ServerConfig::max_connections`]; one over the cap gets `EBUSY`
//!   (id 0) and is closed. Endpoints handed over by the supervisor are not
//!   counted against the cap: the supervisor bounds them.
//! - Every connection's subject is fixed when it is admitted (see
//!   [`SubjectResolver`]).
//! - Shutdown stops every accept loop first, then lets each connection
//!   finish the request it is executing, answer it and close; it waits at
//!   most [`ServerConfig::shutdown_grace`].
//! - Admission and shutdown both happen under the connection table's lock,
//!   so no connection slips in after shutdown has begun.

mod conn;
mod listen;
mod subject;

pub use listen::{bind as bind_socket, Bound as BoundSocket};
pub use subject::{CallContext, FixedSubject, PeerCred, PeerCredResolver, SubjectResolver};

use crate::error::WireError;
use crate::message::Request;
use ciborium::Value;
use nexus_core::{Coded, ErrorCode, Subject};
use std::collections::HashMap;
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What a service implements: answer one request.
pub trait Handler: Send + Sync + 'static {
    /// Answer `req` from the caller described by `ctx`. Return an error for
    /// anything the caller should see as an error reply; a panic is caught
    /// and answered with `EIO`.
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError>;
}

impl<F> Handler for F
where
    F: Fn(&CallContext, &Request) -> Result<Value, WireError> + Send + Sync + 'static,
{
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        self(ctx, req)
    }
}

/// Limits and timeouts of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Most public connections served at once (default 64).
    pub max_connections: usize,
    /// How long a public connection may sit idle between requests before it
    /// is closed (default 60 s; `None`: never). Handed-over endpoints have
    /// no idle timeout.
    pub idle_timeout: Option<Duration>,
    /// How long the rest of a frame may take once its first byte arrived
    /// (default 10 s).
    pub frame_timeout: Duration,
    /// How long writing one reply may block (default 10 s).
    pub write_timeout: Duration,
    /// Permissions of a public socket file (default `0o660`).
    pub socket_mode: u32,
    /// How long shutdown waits for in-flight requests (default 10 s).
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 64,
            idle_timeout: Some(Duration::from_secs(60)),
            frame_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            socket_mode: 0o660,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Why a server could not start serving a socket or a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Another live server owns the socket path.
    #[error("another server is serving {0}")]
    InUse(PathBuf),
    /// Something other than a socket sits at the socket path.
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// Creating, binding or listening on the socket failed.
    #[error("cannot bind the socket: {0}")]
    Bind(io::Error),
    /// No thread could be started.
    #[error("cannot start a thread: {0}")]
    Spawn(io::Error),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The connection cap is reached.
    #[error("too many connections")]
    Full,
}

impl Coded for ServerError {
    fn code(&self) -> ErrorCode {
        match self {
            ServerError::InUse(_) | ServerError::ShuttingDown | ServerError::Full => {
                ErrorCode::Ebusy
            }
            ServerError::NotASocket(_) => ErrorCode::Einval,
            ServerError::Bind(_) | ServerError::Spawn(_) => ErrorCode::Eio,
        }
    }
}

#[derive(Default)]
struct Conns {
    stopping: bool,
    stopped: bool,
    public: usize,
    /// A second handle to each live connection, so shutdown can end its
    /// reads.
    streams: HashMap<u64, UnixStream>,
}

struct ListenerEntry {
    wake: UnixListener,
    thread: JoinHandle<()>,
    bound: listen::Bound,
}

pub(crate) struct Inner {
    handler: Box<dyn Handler>,
    config: ServerConfig,
    next_conn: AtomicU64,
    /// Mirrors `Conns::stopping` for the per-request check, which must not
    /// contend on the table's lock. Set (under the lock) before anything
    /// else happens in shutdown.
    stopping: AtomicBool,
    conns: Mutex<Conns>,
    changed: Condvar,
    listeners: Mutex<Vec<ListenerEntry>>,
}

impl Inner {
    fn conns(&self) -> MutexGuard<'_, Conns> {
        // Nothing panics while holding this lock; if it ever did, the table
        // is still consistent, so recover it.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn release(&self, id: u64, public: bool) {
        let mut c = self.conns();
        if c.streams.remove(&id).is_some() && public {
            c.public = c.public.saturating_sub(1);
        }
        self.changed.notify_all();
    }
}

/// A threaded server for one service. Cheap to clone; all clones are the
/// same server.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

/// Stops a server from another thread (a signal watcher, a test).
#[derive(Clone)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

impl ShutdownHandle {
    /// See [`Server::shutdown`].
    pub fn shutdown(&self) -> bool {
        shutdown(&self.inner)
    }
}

impl Server {
    /// A server that answers requests with `handler`.
    pub fn new(handler: impl Handler, config: ServerConfig) -> Server {
        Server {
            inner: Arc::new(Inner {
                handler: Box::new(handler),
                config,
                next_conn: AtomicU64::new(1),
                stopping: AtomicBool::new(false),
                conns: Mutex::new(Conns::default()),
                changed: Condvar::new(),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Bind a public socket at `path` (replacing a stale socket file) and
    /// serve it from a new accept thread, resolving each caller's subject
    /// with `resolver`.
    pub fn listen(
        &self,
        path: impl AsRef<Path>,
        resolver: impl SubjectResolver,
    ) -> Result<(), ServerError> {
        if self.inner.is_stopping() {
            return Err(ServerError::ShuttingDown);
        }
        let bound = listen::bind(path.as_ref(), self.inner.config.socket_mode)?;
        let wake = bound.listener.try_clone().map_err(ServerError::Bind)?;
        let accept = bound.listener.try_clone().map_err(ServerError::Bind)?;
        let inner = Arc::clone(&self.inner);
        let resolver: Arc<dyn SubjectResolver> = Arc::new(resolver);
        let thread = thread::Builder::new()
            .name("wire-accept".into())
            .spawn(move || conn::accept_loop(&inner, &accept, &resolver))
            .map_err(ServerError::Spawn)?;
        let mut listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.push(ListenerEntry {
            wake,
            thread,
            bound,
        });
        Ok(())
    }

    /// Serve an already connected stream whose peer is `subject`, e.g. an
    /// endpoint received from the supervisor. Not counted against the
    /// connection cap and without idle timeout.
    pub fn add_connection(&self, stream: UnixStream, subject: Subject) -> Result<(), ServerError> {
        conn::admit(&self.inner, stream, conn::Origin::Fixed(subject))
    }

    /// Public connections being served now.
    pub fn public_connections(&self) -> usize {
        self.inner.conns().public
    }

    /// All connections being served now.
    pub fn connections(&self) -> usize {
        self.inner.conns().streams.len()
    }

    /// A handle that can stop this server from elsewhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Stop accepting, let in-flight requests finish and be answered, close
    /// every connection, remove the socket files. Returns whether every
    /// connection finished within the grace period. Later calls return at
    /// once. Not to be called from a handler: it would wait for its own
    /// request until the grace period runs out.
    pub fn shutdown(&self) -> bool {
        shutdown(&self.inner)
    }

    /// Block until the server has been shut down (from a [`ShutdownHandle`]).
    pub fn wait(&self) {
        let mut c = self.inner.conns();
        while !c.stopped {
            c = self
                .inner
                .changed
                .wait(c)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

fn shutdown(inner: &Arc<Inner>) -> bool {
    {
        let mut c = inner.conns();
        if c.stopping {
            drop(c);
            return wait_drained(inner, Instant::now());
        }
        c.stopping = true;
        inner.stopping.store(true, Ordering::Release);
    }
    let listeners: Vec<ListenerEntry> = std::mem::take(
        &mut *inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    for l in listeners {
        // Shutting down the read side of a listening Unix socket makes a
        // blocked accept() return at once (Linux: EINVAL).
        let _ = rustix::net::shutdown(&l.wake, rustix::net::Shutdown::Read);
        let _ = l.thread.join();
        l.bound.remove_socket_file();
    }
    {
        let c = inner.conns();
        for s in c.streams.values() {
            // The reader sees end of stream after the request in hand; the
            // write side stays open for its reply.
            let _ = rustix::net::shutdown(s, rustix::net::Shutdown::Read);
        }
    }
    let done = wait_drained(inner, Instant::now() + inner.config.shutdown_grace);
    let mut c = inner.conns();
    c.stopped = true;
    inner.changed.notify_all();
    done
}

fn wait_drained(inner: &Inner, deadline: Instant) -> bool {
    let mut c = inner.conns();
    while !c.streams.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        c = inner
            .changed
            .wait_timeout(c, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    true
}
