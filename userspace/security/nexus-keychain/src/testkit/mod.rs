//! Fake services for tests (feature `testkit`, never in a shipped build).
//!
//! A [`FakeService`] is a real `wire::Server` with a handler that speaks
//! the documented ops of services.md ([`contract`]): it refuses unknown
//! ops, unexpected arguments and arguments of the wrong type exactly as a
//! daemon does (`EINVAL`), so a client test that passes has sent the
//! documented request shape. Every request is recorded for inspection.
//!
//! It can also misbehave on purpose, to test reconnection: [`FakeService::restart`]
//! closes every connection as a restarted daemon would, and
//! [`FakeService::drop_next`] makes the next connections read one request
//! and close without answering (the connection lost after sending).

pub mod contract;

use crate::service::Service;
use contract::Contract;

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use wire::frame::read_frame;
use wire::{
    decode_request, Args, CallContext, Request, Server, ServerConfig, Subject, Value, WireError,
    MAX_FRAME_LEN,
};

/// What a fake answers: `(op, args)` to the `ok` value or an error.
pub type Responder = dyn Fn(&str, &Args) -> Result<Value, WireError> + Send + Sync;

/// The subject fakes give their callers.
fn admin() -> Subject {
    Subject::Uid(0)
}

struct Shared {
    responder: Box<Responder>,
    log: Mutex<Vec<(String, Args)>>,
    drop_budget: AtomicUsize,
    dropped: AtomicUsize,
}

impl Shared {
    fn record(&self, req: &Request) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((req.op().to_owned(), req.args().clone()));
    }

    /// Read one request from `stream`, record it, close without a reply.
    fn swallow(&self, mut stream: UnixStream) {
        if let Ok(Some(body)) = read_frame(&mut stream, MAX_FRAME_LEN) {
            if let Ok(req) = decode_request(&body) {
                self.record(&req);
            }
        }
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }

    fn take_drop(&self) -> bool {
        self.drop_budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// A fake service on a socket path and/or over handed-over endpoints.
pub struct FakeService {
    shared: Arc<Shared>,
    server: Arc<Mutex<Server>>,
    subject: Subject,
    path: Option<PathBuf>,
    stop: Arc<AtomicBool>,
}

fn new_server(shared: &Arc<Shared>) -> Server {
    let s = Arc::clone(shared);
    let handler = move |_ctx: &CallContext, req: &Request| {
        s.record(req);
        (s.responder)(req.op(), req.args())
    };
    Server::new(handler, ServerConfig::default())
}

impl FakeService {
    /// A fake with no socket, answered by `responder`; connect to it with
    /// [`FakeService::endpoint`]. Its callers have the subject `subject`.
    pub fn detached(
        subject: Subject,
        responder: impl Fn(&str, &Args) -> Result<Value, WireError> + Send + Sync + 'static,
    ) -> FakeService {
        let shared = Arc::new(Shared {
            responder: Box::new(responder),
            log: Mutex::new(Vec::new()),
            drop_budget: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        });
        FakeService {
            server: Arc::new(Mutex::new(new_server(&shared))),
            shared,
            subject,
            path: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A fake listening on `path` (a Unix socket it creates).
    pub fn listen(
        path: impl AsRef<Path>,
        subject: Subject,
        responder: impl Fn(&str, &Args) -> Result<Value, WireError> + Send + Sync + 'static,
    ) -> io::Result<FakeService> {
        let mut fake = FakeService::detached(subject, responder);
        let listener = UnixListener::bind(path.as_ref())?;
        fake.path = Some(path.as_ref().to_path_buf());
        let door = FrontDoor {
            shared: Arc::clone(&fake.shared),
            stop: Arc::clone(&fake.stop),
            subject: fake.subject.clone(),
            servers: Arc::clone(&fake.server),
        };
        thread::Builder::new()
            .name("fake-accept".into())
            .spawn(move || door.run(&listener))?;
        Ok(fake)
    }

    fn current_server(&self) -> Server {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A fake of `service` speaking the whole documented contract
    /// ([`contract::Contract`]) on its socket in `run_dir`.
    pub fn contract_at(run_dir: &Path, service: Service) -> io::Result<FakeService> {
        let c = Contract::new(service.name());
        FakeService::listen(service.socket_in(run_dir), admin(), move |op, a| {
            c.answer(op, a)
        })
    }

    /// A fake of `service` speaking the whole documented contract, with no
    /// socket (connect with [`FakeService::endpoint`]).
    pub fn contract_detached(service: Service) -> FakeService {
        let c = Contract::new(service.name());
        FakeService::detached(admin(), move |op, a| c.answer(op, a))
    }

    /// A new connection to the fake: the client end of a socketpair whose
    /// server end the fake serves (or swallows, see [`FakeService::drop_next`]).
    pub fn endpoint(&self) -> io::Result<UnixStream> {
        let (client, server_end) = UnixStream::pair()?;
        if self.shared.take_drop() {
            let shared = Arc::clone(&self.shared);
            thread::spawn(move || shared.swallow(server_end));
        } else {
            self.current_server()
                .add_connection(server_end, self.subject.clone())
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(client)
    }

    /// The socket path, for a listening fake.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Every request received so far, in order: `(op, args)`.
    pub fn requests(&self) -> Vec<(String, Args)> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The ops received so far, in order.
    pub fn ops(&self) -> Vec<String> {
        self.requests().into_iter().map(|(op, _)| op).collect()
    }

    /// The last request received.
    pub fn last(&self) -> Option<(String, Args)> {
        self.requests().pop()
    }

    /// The next `n` connections read one request each and close without
    /// answering.
    pub fn drop_next(&self, n: usize) {
        self.shared.drop_budget.store(n, Ordering::SeqCst);
    }

    /// How many connections were closed without an answer.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Close every connection, as a daemon that restarted; the socket (if
    /// any) keeps accepting and new connections are served.
    pub fn restart(&self) {
        let old = {
            let mut slot = self.server.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *slot, new_server(&self.shared))
        };
        old.shutdown();
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(p) = &self.path {
            // Wake the accept loop so that it sees the stop flag.
            let _ = UnixStream::connect(p);
            let _ = std::fs::remove_file(p);
        }
        self.current_server().shutdown();
    }
}

struct FrontDoor {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    subject: Subject,
    servers: Arc<Mutex<Server>>,
}

impl FrontDoor {
    fn run(self, listener: &UnixListener) {
        for stream in listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            if self.shared.take_drop() {
                let shared = Arc::clone(&self.shared);
                thread::spawn(move || shared.swallow(stream));
                continue;
            }
            let server = self
                .servers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let _ = server.add_connection(stream, self.subject.clone());
        }
    }
}
