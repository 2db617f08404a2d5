//! Client connections to other services, as handed over by the supervisor.
//!
//! The supervisor gives a daemon one or more connected endpoints per
//! service it calls (the route's lanes), and fresh ones whenever either
//! side restarts. [`Upstreams`] keeps a pool of clients per service name
//! and lends each to one call at a time (a wire connection carries one
//! request at a time), so as many calls run at once as the pool holds
//! clients.
//!
//! Invariants:
//! - A call to a service that is down fails at once: when the service has
//!   no usable client (no endpoint yet, or every connection closed because
//!   the service died and the supervisor has not handed new endpoints) and
//!   none is lent, the caller gets [`UpstreamError::Unavailable`]
//!   (`EAGAIN`, "<service> is unavailable; try again") without waiting. A
//!   connection lost during a call is `EAGAIN` too. Only when every usable
//!   client is lent to other calls does a call wait, on the service's
//!   condition variable, for at most [`UpstreamConfig::wait`]
//!   ([`UpstreamError::Busy`], `EBUSY`, after that).
//! - An arriving endpoint joins the pool at once, even while others are
//!   lent out; it first drops every idle client whose server is gone, and
//!   the pool never keeps more than [`MAX_CLIENTS_PER_SERVICE`] (the idle
//!   ones that waited longest go first, never the new one).
//! - A dead connection never shadows a live one: no client is lent unless
//!   it is usable at that moment (the dead ones met are dropped), and a
//!   lent client whose server died during the call is dropped when it comes
//!   back, not put back in the pool.
//! - A client that failed at the transport level is never reused (the wire
//!   client refuses it anyway); an error *reply* leaves it usable.
//! - No waiter is lost: a client given back idle wakes exactly one waiter
//!   of its service; a client dropped, an endpoint arriving or the
//!   registry closing wakes every waiter, who all look again (so each one
//!   left with nothing to wait for is told `EAGAIN` at once).
//! - Retrying after a lost connection happens only in
//!   [`Upstreams::call_idempotent`], and only once; the retry borrows like
//!   any call (a new endpoint if one has arrived, `EAGAIN` at once if none
//!   is usable).

use nexus_core::{Coded, ErrorCode};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use wire::{Args, Client, ClientConfig, ClientError, Value};

mod pool;
#[cfg(test)]
mod tests;

pub use pool::MAX_CLIENTS as MAX_CLIENTS_PER_SERVICE;
use pool::{Pool, Returned};

/// How long callers wait, and how long one call may take.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The longest a call waits for a client while other calls use every
    /// one. Default 10 s. (A service that is down is not waited for.)
    pub wait: Duration,
    /// The wire client's per-call timeout. Default 30 s.
    pub call_timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            wait: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a call to another service failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The service answered with an error.
    #[error("{service} answered {code}: {msg}")]
    Remote {
        /// The service called.
        service: String,
        /// Its stable code.
        code: ErrorCode,
        /// Its message (secret-free by the wire contract).
        msg: String,
    },
    /// The service is down or restarting: no usable connection to it.
    #[error("{0} is unavailable; try again")]
    Unavailable(String),
    /// The connection stayed busy with other calls for the whole wait.
    #[error("{0} is busy")]
    Busy(String),
    /// The call failed in transport (timeout, lost connection, bad reply).
    #[error("call to {service} failed: {source}")]
    Transport {
        /// The service called.
        service: String,
        /// What failed.
        #[source]
        source: ClientError,
    },
    /// The daemon is shutting down.
    #[error("shutting down")]
    Closed,
}

impl UpstreamError {
    /// The code of a remote error reply, if this is one.
    pub fn remote_code(&self) -> Option<ErrorCode> {
        match self {
            UpstreamError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the service is down (unreachable now, or its connection was
    /// lost during the call): a later call may succeed once it is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            UpstreamError::Unavailable(_) => true,
            UpstreamError::Transport { source, .. } => source.is_connection_lost(),
            _ => false,
        }
    }
}

impl Coded for UpstreamError {
    fn code(&self) -> ErrorCode {
        match self {
            UpstreamError::Remote { code, .. } => *code,
            UpstreamError::Busy(_) | UpstreamError::Closed => ErrorCode::Ebusy,
            e if e.is_unavailable() => ErrorCode::Eagain,
            UpstreamError::Unavailable(_) | UpstreamError::Transport { .. } => ErrorCode::Eio,
        }
    }
}

/// Anything that carries a call to one service: an [`UpstreamHandle`], or a
/// [`SingleClient`] (tools and tests holding one connection).
pub trait Call: Send + Sync {
    /// Call `op` with `args`. The op must be safe to repeat if `idempotent`.
    fn call(&self, op: &str, args: &Args, idempotent: bool) -> Result<Value, UpstreamError>;

    /// Whether the service looks reachable now (checked without a round
    /// trip). `false` means a call would fail; `true` promises nothing.
    fn is_up(&self) -> bool {
        true
    }
}

/// One wire client to one service, shared behind a mutex. No reconnects.
#[derive(Debug)]
pub struct SingleClient {
    service: String,
    client: Mutex<Client>,
}

impl SingleClient {
    /// Wrap `client`, a connection to `service` (the name is for errors).
    pub fn new(service: &str, client: Client) -> SingleClient {
        SingleClient {
            service: service.to_owned(),
            client: Mutex::new(client),
        }
    }
}

impl Call for SingleClient {
    fn call(&self, op: &str, args: &Args, _idempotent: bool) -> Result<Value, UpstreamError> {
        let mut c = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        c.call(op, args).map_err(|e| from_client(&self.service, e))
    }
}

fn from_client(service: &str, e: ClientError) -> UpstreamError {
    match e {
        ClientError::Remote { code, msg } => UpstreamError::Remote {
            service: service.to_owned(),
            code,
            msg,
        },
        source => UpstreamError::Transport {
            service: service.to_owned(),
            source,
        },
    }
}

#[derive(Default)]
struct Table {
    closed: bool,
    services: HashMap<String, Pool>,
}

struct Shared {
    config: UpstreamConfig,
    table: Mutex<Table>,
    /// Woken (all) when an endpoint arrives or the registry closes: what
    /// [`Upstreams::wait_connected`] waits for. Calls wait on their
    /// service's own condition variable ([`Pool::free`]).
    connected: Condvar,
}

/// The daemon's clients to other services. Cheap to clone; clones share
/// the registry.
#[derive(Clone)]
pub struct Upstreams {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.table();
        let mut names: Vec<&String> = t.services.keys().collect();
        names.sort();
        f.debug_struct("Upstreams")
            .field("services", &names)
            .field("closed", &t.closed)
            .finish()
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Upstreams::new(UpstreamConfig::default())
    }
}

impl Upstreams {
    /// An empty registry.
    pub fn new(config: UpstreamConfig) -> Upstreams {
        Upstreams {
            shared: Arc::new(Shared {
                config,
                table: Mutex::new(Table::default()),
                connected: Condvar::new(),
            }),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every critical section is a few field updates that cannot panic
        // half-way; a poisoned table is still consistent.
        self.shared
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Add `stream`, a new endpoint to `service`, to its pool: first every
    /// idle client whose server is gone is dropped (the endpoint is a
    /// re-issue after that server died), then the new client joins, and
    /// the pool is trimmed to [`MAX_CLIENTS_PER_SERVICE`]. Wakes every
    /// caller waiting for the service.
    pub fn replace(&self, service: &str, stream: UnixStream) {
        let client = Client::from_stream_with(
            stream,
            ClientConfig {
                timeout: self.shared.config.call_timeout,
            },
        );
        let mut t = self.table();
        if t.closed {
            return;
        }
        let pool = t
            .services
            .entry(service.to_owned())
            .or_insert_with(Pool::new);
        pool.add(client);
        let free = Arc::clone(&pool.free);
        drop(t);
        free.notify_all();
        self.shared.connected.notify_all();
    }

    /// Whether a usable client for `service` is held now (lent or not).
    pub fn is_connected(&self, service: &str) -> bool {
        self.table().services.get(service).is_some_and(Pool::is_up)
    }

    /// Fail every waiting and future call with [`UpstreamError::Closed`] and
    /// drop every client.
    pub fn close(&self) {
        let mut t = self.table();
        t.closed = true;
        let pools: Vec<Pool> = t.services.drain().map(|(_, p)| p).collect();
        drop(t);
        for p in &pools {
            p.free.notify_all();
        }
        self.shared.connected.notify_all();
    }

    /// A [`Call`] for one service.
    pub fn handle(&self, service: &str) -> UpstreamHandle {
        UpstreamHandle {
            upstreams: self.clone(),
            service: service.to_owned(),
        }
    }

    /// Wait until `service` has a usable connection (lent or not), the
    /// registry is closed, or `deadline` passes; returns whether it has
    /// one. For start-up, which must wait for the first endpoint; calls
    /// never wait for a service that is down.
    pub fn wait_connected(&self, service: &str, deadline: Instant) -> bool {
        let mut t = self.table();
        loop {
            let up = t.services.get(service).is_some_and(Pool::is_up);
            let left = deadline.saturating_duration_since(Instant::now());
            if up || t.closed || left.is_zero() {
                return up;
            }
            t = self
                .shared
                .connected
                .wait_timeout(t, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Borrow a client of `service`. A service without a usable client is
    /// unavailable at once; when every usable client is lent to another
    /// call, one is waited for, at most the configured time.
    fn borrow(&self, service: &str) -> Result<Client, UpstreamError> {
        let deadline = Instant::now() + self.shared.config.wait;
        let unavailable = || UpstreamError::Unavailable(service.to_owned());
        let mut t = self.table();
        loop {
            if t.closed {
                return Err(UpstreamError::Closed);
            }
            let pool = t.services.get_mut(service).ok_or_else(unavailable)?;
            // An idle client is taken even past the deadline: a waiter
            // woken for it must not leave it unused.
            let (client, dropped) = pool.take();
            let free = Arc::clone(&pool.free);
            let lent = pool.lent();
            if dropped {
                // The server died: others waiting for this service may
                // have nothing left to wait for, and must see it now.
                free.notify_all();
            }
            if let Some(c) = client {
                return Ok(c);
            }
            if lent == 0 {
                // Every connection is closed (the service died or
                // restarted): down until the supervisor hands a new
                // endpoint, and callers are told so now.
                return Err(unavailable());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(UpstreamError::Busy(service.to_owned()));
            }
            t = free
                .wait_timeout(t, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Give a lent client back: idle again if still usable (one waiter is
    /// woken for it), else dropped (every waiter looks again).
    fn give_back(&self, service: &str, client: Client) {
        let mut t = self.table();
        // After close the pool is gone and the client is dropped here.
        let Some(pool) = t.services.get_mut(service) else {
            return;
        };
        let returned = pool.give_back(client);
        let free = Arc::clone(&pool.free);
        drop(t);
        match returned {
            Returned::Idle => free.notify_one(),
            Returned::Dropped => free.notify_all(),
        }
    }

    fn once(&self, service: &str, op: &str, args: &Args) -> Result<Value, UpstreamError> {
        let mut client = self.borrow(service)?;
        let result = client.call(op, args);
        self.give_back(service, client);
        result.map_err(|e| from_client(service, e))
    }

    /// Call `op` on `service`. A request lost in transport after it was
    /// sent is reported, not retried: it may have run.
    pub fn call(&self, service: &str, op: &str, args: &Args) -> Result<Value, UpstreamError> {
        self.once(service, op, args)
    }

    /// Call an op that is safe to repeat: if the connection is lost during
    /// the call, send it once more on another usable client (a re-issued
    /// endpoint if the service restarted and one has already arrived;
    /// otherwise the service is unavailable).
    pub fn call_idempotent(
        &self,
        service: &str,
        op: &str,
        args: &Args,
    ) -> Result<Value, UpstreamError> {
        match self.once(service, op, args) {
            Err(UpstreamError::Transport { source, .. }) if source.is_connection_lost() => {
                self.once(service, op, args)
            }
            r => r,
        }
    }
}

/// Calls to one service through an [`Upstreams`] registry.
#[derive(Debug, Clone)]
pub struct UpstreamHandle {
    upstreams: Upstreams,
    service: String,
}

impl UpstreamHandle {
    /// The service this handle calls.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl Call for UpstreamHandle {
    fn call(&self, op: &str, args: &Args, idempotent: bool) -> Result<Value, UpstreamError> {
        if idempotent {
            self.upstreams.call_idempotent(&self.service, op, args)
        } else {
            self.upstreams.call(&self.service, op, args)
        }
    }

    fn is_up(&self) -> bool {
        self.upstreams.is_connected(&self.service)
    }
}
