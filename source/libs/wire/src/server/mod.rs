//! The server: an epoll loop shared by a bounded, elastic pool of handler
//! threads.
//!
//! Every connection's socket is registered one-shot in one epoll instance;
//! worker threads wait on it. The thread that wakes for a connection reads
//! what has arrived of its request, and once the frame is whole decodes it,
//! runs the handler, writes the reply and re-arms the socket. An idle
//! connection therefore costs no thread: threads exist for requests being
//! executed (at most [`ServerConfig::max_workers`]), plus a spare or two
//! waiting. After a reply the thread lingers briefly on its connection
//! ([`ServerConfig::linger`]) and serves the next request itself if one
//! comes; otherwise it re-arms the socket. When every thread is busy and the cap allows, the one that
//! just woke starts another before it runs its request.
//!
//! Invariants:
//! - One request at a time per connection: the socket is not armed while
//!   its request executes, and the next frame is read only after the reply
//!   is written (`docs/architecture/wire.md` §8).
//! - Public connections (accepted on a socket) are capped per subject and
//!   in total, with a reserve for small subjects (see [`admit`]); one over
//!   a cap gets `EBUSY` (id 0) and is closed. Endpoints handed over by the
//!   supervisor are not counted: the supervisor bounds them.
//! - No subject executes more than [`ServerConfig::max_busy_per_subject`]
//!   requests at once; its further requests wait for its own to finish
//!   (see [`fair`]), so one subject cannot occupy every thread.
//! - Every connection's subject is fixed when it is admitted (see
//!   [`SubjectResolver`]).
//! - Timeouts (idle, frame, write) are enforced by a sweep over the
//!   connections, at least every quarter of the shortest timeout (and at
//!   least once a second).
//! - Shutdown stops every listener first (and removes its socket file),
//!   closes connections waiting for a request, lets each executing
//!   request finish and be answered, and waits at most
//!   [`ServerConfig::shutdown_grace`]. Admission checks the stopping flag
//!   under the connection table's lock, so nothing slips in after.
//! - Lock order: the connection table's lock is never held while taking a
//!   connection's state lock.

mod admit;
mod conn;
mod fair;
mod listen;
mod subject;
mod worker;

pub use listen::{bind as bind_socket, parse_socket_mode, Bound as BoundSocket};
pub use subject::{CallContext, FixedSubject, PeerCred, PeerCredResolver, SubjectResolver};

use crate::error::WireError;
use crate::message::Request;
use admit::{Admission, Caps};
use ciborium::Value;
use conn::Conn;
use fair::Fairness;
use nexus_core::{Coded, ErrorCode, Subject};
use rustix::event::epoll;
use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
    /// Most public connections served at once, all subjects together
    /// (default 512).
    pub max_connections: usize,
    /// Most public connections of one subject (default 256). With
    /// `reserved_connections` at most `max_connections`.
    pub max_connections_per_subject: usize,
    /// The last slots of `max_connections`, kept for subjects holding
    /// fewer than [`RESERVE_SHARE`] connections (default 32).
    pub reserved_connections: usize,
    /// Most threads executing requests at once (default 64). Idle
    /// connections hold no thread.
    pub max_workers: usize,
    /// Most requests of one subject executing at once (default 32); its
    /// further requests wait for its own to finish.
    pub max_busy_per_subject: usize,
    /// How long a public connection may sit idle between requests before it
    /// is closed (default 60 s; `None`: never). Handed-over endpoints have
    /// no idle timeout.
    pub idle_timeout: Option<Duration>,
    /// How long the rest of a frame may take once its first byte arrived
    /// (default 10 s).
    pub frame_timeout: Duration,
    /// How long writing one reply may take (default 10 s).
    pub write_timeout: Duration,
    /// Permissions of a public socket file (default `0o660`).
    pub socket_mode: u32,
    /// Group of a public socket file (default `None`: the server's
    /// effective group). Set before the socket listens, so no caller can
    /// connect while the file still has its first group.
    pub socket_group: Option<u32>,
    /// How long shutdown waits for in-flight requests (default 10 s).
    pub shutdown_grace: Duration,
    /// How long the thread that answered a request waits, blocked in a
    /// read of that connection, for its next request before handing the
    /// connection back to epoll (default 2 ms; `None` or zero: never).
    /// A client calling again at once is then served without an epoll
    /// round. A thread lingers only while another one waits in epoll, so
    /// with every thread busy no connection keeps one to itself.
    pub linger: Option<Duration>,
}

/// The default [`ServerConfig::linger`].
pub const DEFAULT_LINGER: Duration = Duration::from_millis(2);

/// A subject holding fewer public connections than this may use the
/// reserved slots.
pub const RESERVE_SHARE: usize = 4;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 512,
            max_connections_per_subject: 256,
            reserved_connections: 32,
            max_workers: 64,
            max_busy_per_subject: 32,
            idle_timeout: Some(Duration::from_secs(60)),
            frame_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            socket_mode: 0o660,
            socket_group: None,
            shutdown_grace: Duration::from_secs(10),
            linger: Some(DEFAULT_LINGER),
        }
    }
}

impl ServerConfig {
    fn caps(&self) -> Caps {
        Caps {
            total: self.max_connections,
            per_subject: self.max_connections_per_subject,
            reserve: self.reserved_connections,
            share: RESERVE_SHARE,
        }
    }

    /// How often the timeouts are checked: a quarter of the shortest one,
    /// between 10 ms and 1 s.
    fn sweep_period(&self) -> Duration {
        let shortest = [
            Some(self.frame_timeout),
            Some(self.write_timeout),
            self.idle_timeout,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Duration::from_secs(4));
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
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
    /// No thread (or no epoll instance) could be started.
    #[error("cannot start a thread: {0}")]
    Spawn(io::Error),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The connection cap is reached.
    #[error("too many connections")]
    Full,
    /// The configuration's caps contradict each other.
    #[error("invalid server configuration: {0}")]
    Config(&'static str),
}

impl Coded for ServerError {
    fn code(&self) -> ErrorCode {
        match self {
            ServerError::InUse(_) | ServerError::ShuttingDown | ServerError::Full => {
                ErrorCode::Ebusy
            }
            ServerError::NotASocket(_) | ServerError::Config(_) => ErrorCode::Einval,
            ServerError::Bind(_) | ServerError::Spawn(_) => ErrorCode::Eio,
        }
    }
}

/// The connections being served and the public ones' accounting.
#[derive(Default)]
struct Table {
    stopping: bool,
    stopped: bool,
    conns: HashMap<u64, Arc<Conn>>,
    admission: Admission,
}

/// A listening socket in the epoll set.
struct ListenerEntry {
    resolver: Arc<dyn SubjectResolver>,
    bound: listen::Bound,
}

impl ListenerEntry {
    fn listener(&self) -> &UnixListener {
        &self.bound.listener
    }
}

/// Worker threads: how many there are and how many wait for events.
#[derive(Default)]
struct Pool {
    total: usize,
    idle: usize,
}

/// A request ready to execute, waiting for its subject's turn if need be.
type Job = (Arc<Conn>, Request);

pub(crate) struct Inner {
    handler: Box<dyn Handler>,
    config: ServerConfig,
    caps: Caps,
    poll: Option<OwnedFd>,
    next_id: AtomicU64,
    /// Mirrors `Table::stopping` for checks that must not take the table's
    /// lock. Set (under the lock) before anything else happens in shutdown.
    stopping: AtomicBool,
    table: Mutex<Table>,
    changed: Condvar,
    listeners: Mutex<HashMap<u64, Arc<ListenerEntry>>>,
    fair: Mutex<Fairness<Job>>,
    pool: Mutex<Pool>,
    next_sweep: Mutex<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few field or map updates that do
    // not panic; a poisoned lock still guards consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Table> {
        lock(&self.table)
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn poll(&self) -> Result<&OwnedFd, ServerError> {
        self.poll
            .as_ref()
            .ok_or_else(|| ServerError::Spawn(io::Error::other("no epoll instance")))
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A server for one service. Cheap to clone; all clones are the same
/// server.
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
    /// A server that answers requests with `handler`. Threads start with
    /// the first socket or connection it is given.
    pub fn new(handler: impl Handler, config: ServerConfig) -> Server {
        let poll = match epoll::create(epoll::CreateFlags::CLOEXEC) {
            Ok(fd) => Some(fd),
            Err(e) => {
                eprintln!("wire: cannot create an epoll instance: {e}");
                None
            }
        };
        let sweep_at = Instant::now() + config.sweep_period();
        Server {
            inner: Arc::new(Inner {
                handler: Box::new(handler),
                caps: config.caps(),
                fair: Mutex::new(Fairness::new(config.max_busy_per_subject)),
                config,
                poll,
                next_id: AtomicU64::new(1),
                stopping: AtomicBool::new(false),
                table: Mutex::new(Table::default()),
                changed: Condvar::new(),
                listeners: Mutex::new(HashMap::new()),
                pool: Mutex::new(Pool::default()),
                next_sweep: Mutex::new(sweep_at),
            }),
        }
    }

    /// Bind a public socket at `path` (replacing a stale socket file) and
    /// serve it, resolving each caller's subject with `resolver`.
    pub fn listen(
        &self,
        path: impl AsRef<Path>,
        resolver: impl SubjectResolver,
    ) -> Result<(), ServerError> {
        let inner = &self.inner;
        if inner.is_stopping() {
            return Err(ServerError::ShuttingDown);
        }
        inner.caps.check().map_err(ServerError::Config)?;
        let poll = inner.poll()?;
        let bound = listen::bind(
            path.as_ref(),
            inner.config.socket_mode,
            inner.config.socket_group,
        )?;
        bound
            .listener
            .set_nonblocking(true)
            .map_err(ServerError::Bind)?;
        let id = inner.new_id();
        let entry = Arc::new(ListenerEntry {
            resolver: Arc::new(resolver),
            bound,
        });
        lock(&inner.listeners).insert(id, Arc::clone(&entry));
        let armed = epoll::add(
            poll,
            entry.listener(),
            epoll::EventData::new_u64(id),
            worker::ARM_IN,
        );
        if let Err(e) = armed {
            lock(&inner.listeners).remove(&id);
            entry.bound.remove_socket_file();
            return Err(ServerError::Bind(e.into()));
        }
        worker::ensure_worker(inner)
    }

    /// Serve an already connected stream whose peer is `subject`, e.g. an
    /// endpoint received from the supervisor. Not counted against the
    /// connection caps and without idle timeout.
    pub fn add_connection(&self, stream: UnixStream, subject: Subject) -> Result<(), ServerError> {
        worker::add_endpoint(&self.inner, stream, subject)
    }

    /// Public connections being served now.
    pub fn public_connections(&self) -> usize {
        self.inner.table().admission.total()
    }

    /// All connections being served now.
    pub fn connections(&self) -> usize {
        self.inner.table().conns.len()
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
        let mut t = self.inner.table();
        while !t.stopped {
            t = self
                .inner
                .changed
                .wait(t)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

fn shutdown(inner: &Arc<Inner>) -> bool {
    {
        let mut t = inner.table();
        if t.stopping {
            drop(t);
            return wait_drained(inner, Instant::now());
        }
        t.stopping = true;
        inner.stopping.store(true, Ordering::Release);
    }
    let listeners: Vec<Arc<ListenerEntry>> =
        lock(&inner.listeners).drain().map(|(_, l)| l).collect();
    for l in listeners {
        if let Ok(poll) = inner.poll() {
            let _ = epoll::delete(poll, l.listener());
        }
        l.bound.remove_socket_file();
    }
    let conns: Vec<Arc<Conn>> = inner.table().conns.values().cloned().collect();
    for c in conns {
        worker::stop_conn(inner, &c);
    }
    let done = wait_drained(inner, Instant::now() + inner.config.shutdown_grace);
    let mut t = inner.table();
    t.stopped = true;
    inner.changed.notify_all();
    done
}

fn wait_drained(inner: &Inner, deadline: Instant) -> bool {
    let mut t = inner.table();
    while !t.conns.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        t = inner
            .changed
            .wait_timeout(t, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    true
}
