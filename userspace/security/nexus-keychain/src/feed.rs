//! Endpoints handed over by the supervisor, waiting to be used.
//!
//! An app started by nexus-init gets its connections to the services as
//! endpoints on its control channel (stdin), at start and again whenever a
//! service was restarted. The feed holds the newest endpoint per service
//! until a client takes it; a reader thread can fill it from the control
//! channel for the life of the process.
//!
//! Invariants: only the newest endpoint per service is kept (an older one
//! that was never used is closed, since its server is gone); endpoints
//! named after no known service are closed, never kept; once the control
//! channel has ended, waiters return at once instead of waiting out their
//! bound.

use crate::service::Service;
use nexus_core::{Coded, ErrorCode};
use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wire::handoff::{recv_endpoint, Endpoint, HandoffError};

#[derive(Default)]
struct State {
    fresh: HashMap<Service, UnixStream>,
    closed: bool,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

/// Endpoints from the supervisor, per service. Cheap to clone; clones
/// share the same endpoints.
#[derive(Clone, Default)]
pub struct EndpointFeed {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EndpointFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state();
        let mut waiting: Vec<&str> = s.fresh.keys().map(|k| k.name()).collect();
        waiting.sort_unstable();
        f.debug_struct("EndpointFeed")
            .field("waiting", &waiting)
            .field("closed", &s.closed)
            .finish()
    }
}

impl EndpointFeed {
    /// An empty feed.
    pub fn new() -> EndpointFeed {
        EndpointFeed::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Offer a connected stream to `service`. It replaces any stream for
    /// that service not yet taken.
    pub fn offer_stream(&self, service: Service, stream: UnixStream) {
        self.state().fresh.insert(service, stream);
        self.inner.changed.notify_all();
    }

    /// Offer an endpoint received from the supervisor. Returns the service
    /// it is for, or `None` (and closes it) if its name is no known
    /// service.
    pub fn offer(&self, endpoint: Endpoint) -> Option<Service> {
        let service = Service::from_name(endpoint.name.as_str())?;
        self.offer_stream(service, endpoint.stream);
        Some(service)
    }

    /// Say that no more endpoints will come (the control channel ended).
    pub fn close(&self) {
        self.state().closed = true;
        self.inner.changed.notify_all();
    }

    /// Whether the control channel has ended.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Take the stream waiting for `service`, if any, without waiting.
    pub fn take_now(&self, service: Service) -> Option<UnixStream> {
        self.state().fresh.remove(&service)
    }

    /// Take the stream for `service`, waiting at most `wait` for one.
    pub fn take(&self, service: Service, wait: Duration) -> Option<UnixStream> {
        let deadline = Instant::now() + wait;
        let mut s = self.state();
        loop {
            if let Some(stream) = s.fresh.remove(&service) {
                return Some(stream);
            }
            let now = Instant::now();
            if s.closed || now >= deadline {
                return None;
            }
            s = self
                .inner
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Read endpoints from `control` (normally the process's stdin) until
    /// it ends, offering each one. A malformed handoff message is refused
    /// (its descriptors closed) and reading goes on; a failure of the
    /// channel itself, or its end, closes the feed. Returns how the
    /// channel ended.
    pub fn read_control(&self, control: impl AsFd) -> HandoffError {
        let end = loop {
            match recv_endpoint(&control) {
                Ok(ep) => {
                    self.offer(ep);
                }
                Err(e) if e.code() == ErrorCode::Einval => {}
                Err(e) => break e,
            }
        };
        self.close();
        end
    }

    /// [`EndpointFeed::read_control`] on a thread of its own.
    pub fn spawn_reader(
        &self,
        control: impl AsFd + Send + 'static,
    ) -> io::Result<JoinHandle<HandoffError>> {
        let feed = self.clone();
        std::thread::Builder::new()
            .name("keychain-control".into())
            .spawn(move || feed.read_control(control))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn newest_endpoint_wins_and_waits_are_bounded() {
        let feed = EndpointFeed::new();
        assert!(feed
            .take(Service::Keystored, Duration::from_millis(20))
            .is_none());
        let (a, _pa) = UnixStream::pair().unwrap();
        let (b, pb) = UnixStream::pair().unwrap();
        feed.offer_stream(Service::Keystored, a);
        feed.offer_stream(Service::Keystored, b);
        let mut got = feed.take_now(Service::Keystored).unwrap();
        (&pb).write_all(b"b").unwrap();
        let mut buf = [0u8; 1];
        got.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"b");
        assert!(feed.take_now(Service::Keystored).is_none());
        feed.close();
        let start = Instant::now();
        assert!(feed
            .take(Service::Attestd, Duration::from_secs(5))
            .is_none());
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_waiter_wakes_when_an_endpoint_arrives() {
        let feed = EndpointFeed::new();
        let f2 = feed.clone();
        let t = std::thread::spawn(move || f2.take(Service::Identityd, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50));
        let (a, _pa) = UnixStream::pair().unwrap();
        feed.offer_stream(Service::Identityd, a);
        assert!(t.join().unwrap().is_some());
    }
}
