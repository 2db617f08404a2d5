//! Client connections to other services, as handed over by the supervisor.
//!
//! The supervisor gives a daemon one connected endpoint per service it
//! calls, and hands a fresh one when that service restarts. [`Upstreams`]
//! keeps the current client per service name and lends it to one call at a
//! time (a wire connection carries one request at a time).
//!
//! Invariants:
//! - A call to a service that is down fails at once: when the service's
//!   client is missing (no endpoint yet) or its connection is closed (the
//!   service died and the supervisor has not handed a new endpoint), the
//!   caller gets [`UpstreamError::Unavailable`] (`EAGAIN`, "<service> is
//!   unavailable; try again") without waiting. A connection lost during a
//!   call is `EAGAIN` too. Only a client lent to another call is waited
//!   for, on a condition variable, for at most [`UpstreamConfig::wait`]
//!   ([`UpstreamError::Busy`], `EBUSY`, after that).
//! - A re-issued endpoint replaces the client at once, even while the old
//!   one is lent out; the old one is dropped when its call returns, never
//!   put back over the new one (each replacement bumps a generation).
//! - A client that failed at the transport level is never reused (the wire
//!   client refuses it anyway); an error *reply* leaves it usable.
//! - Retrying after a lost connection happens only in
//!   [`Upstreams::call_idempotent`], and only once, without waiting.

use nexus_core::{Coded, ErrorCode};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use wire::{Args, Client, ClientConfig, ClientError, Value};

/// How long callers wait, and how long one call may take.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The longest a call waits for the connection while another call
    /// uses it. Default 10 s. (A service that is down is not waited for.)
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

struct Entry {
    client: Option<Client>,
    /// The current generation's client is lent to a call.
    lent: bool,
    generation: u64,
}

#[derive(Default)]
struct Table {
    closed: bool,
    services: HashMap<String, Entry>,
}

struct Shared {
    config: UpstreamConfig,
    table: Mutex<Table>,
    changed: Condvar,
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
                changed: Condvar::new(),
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

    /// Make `stream` the current connection to `service`, replacing any
    /// earlier one, and wake the callers waiting for it.
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
        let e = t.services.entry(service.to_owned()).or_insert(Entry {
            client: None,
            lent: false,
            generation: 0,
        });
        e.client = Some(client);
        e.lent = false;
        e.generation = e.generation.wrapping_add(1);
        drop(t);
        self.shared.changed.notify_all();
    }

    /// Whether a usable client for `service` is held now (lent or not).
    pub fn is_connected(&self, service: &str) -> bool {
        let t = self.table();
        t.services
            .get(service)
            .is_some_and(|e| e.lent || e.client.as_ref().is_some_and(Client::is_usable))
    }

    /// Fail every waiting and future call with [`UpstreamError::Closed`] and
    /// drop every client.
    pub fn close(&self) {
        let mut t = self.table();
        t.closed = true;
        t.services.clear();
        drop(t);
        self.shared.changed.notify_all();
    }

    /// A [`Call`] for one service.
    pub fn handle(&self, service: &str) -> UpstreamHandle {
        UpstreamHandle {
            upstreams: self.clone(),
            service: service.to_owned(),
        }
    }

    /// Wait for a change of the table, at most `left`.
    fn wait<'a>(&'a self, t: MutexGuard<'a, Table>, left: Duration) -> MutexGuard<'a, Table> {
        self.shared
            .changed
            .wait_timeout(t, left)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0)
    }

    /// Wait until `service` has a usable connection (lent or not), the
    /// registry is closed, or `deadline` passes; returns whether it has
    /// one. For start-up, which must wait for the first endpoint; calls
    /// never wait for a service that is down.
    pub fn wait_connected(&self, service: &str, deadline: Instant) -> bool {
        let mut t = self.table();
        loop {
            let up = t
                .services
                .get(service)
                .is_some_and(|e| e.lent || e.client.as_ref().is_some_and(Client::is_usable));
            let left = deadline.saturating_duration_since(Instant::now());
            if up || t.closed || left.is_zero() {
                return up;
            }
            t = self.wait(t, left);
        }
    }

    /// Borrow the current client of `service`. A service without a usable
    /// connection is unavailable at once; a connection lent to another
    /// call is waited for, at most the configured time.
    fn borrow(&self, service: &str) -> Result<(Client, u64), UpstreamError> {
        let deadline = Instant::now() + self.shared.config.wait;
        let unavailable = || UpstreamError::Unavailable(service.to_owned());
        let mut t = self.table();
        loop {
            if t.closed {
                return Err(UpstreamError::Closed);
            }
            let e = t.services.get_mut(service).ok_or_else(unavailable)?;
            if !e.lent {
                // The service closed an idle connection (it died or
                // restarted): down until the supervisor hands a new
                // endpoint, and callers are told so now.
                let c = e.client.take().ok_or_else(unavailable)?;
                if !c.is_usable() {
                    return Err(unavailable());
                }
                e.lent = true;
                return Ok((c, e.generation));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(UpstreamError::Busy(service.to_owned()));
            }
            t = self.wait(t, left);
        }
    }

    /// Give a lent client back, unless it was replaced meanwhile or is no
    /// longer usable.
    fn give_back(&self, service: &str, client: Client, generation: u64) {
        let mut t = self.table();
        if let Some(e) = t.services.get_mut(service) {
            if e.generation == generation {
                e.lent = false;
                if client.is_usable() {
                    e.client = Some(client);
                }
            }
        }
        drop(t);
        self.shared.changed.notify_all();
    }

    fn once(&self, service: &str, op: &str, args: &Args) -> Result<Value, UpstreamError> {
        let (mut client, generation) = self.borrow(service)?;
        let result = client.call(op, args);
        self.give_back(service, client, generation);
        result.map_err(|e| from_client(service, e))
    }

    /// Call `op` on `service`. A request lost in transport after it was
    /// sent is reported, not retried: it may have run.
    pub fn call(&self, service: &str, op: &str, args: &Args) -> Result<Value, UpstreamError> {
        self.once(service, op, args)
    }

    /// Call an op that is safe to repeat: if the connection is lost during
    /// the call, send it once more, on a re-issued endpoint if one has
    /// already arrived (otherwise the service is unavailable).
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
