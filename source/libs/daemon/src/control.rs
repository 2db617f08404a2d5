//! The control channel from the supervisor: endpoints arrive here.
//!
//! One thread reads endpoints with [`wire::handoff::recv_endpoint`] until
//! end of stream:
//! - `serve` endpoints are connections from clients: they go to the
//!   daemon's wire server with the subject the supervisor attached. Those
//!   that arrive before the server exists (the daemon is still starting)
//!   wait in a bounded queue and are served as soon as it does.
//! - an endpoint named after one of the daemon's declared upstream services
//!   joins that service's pool of clients in [`Upstreams`] (a route may
//!   have several lanes, each its own endpoint).
//! - any other name is refused (logged, the descriptor closed).
//!
//! Invariants: end of stream trips the shutdown latch with
//! [`StopReason::ControlClosed`]; a channel that fails, or whose framing
//! can no longer be trusted (a header announcing more than the limit leaves
//! its body unread), trips it with [`StopReason::ControlFailed`]. A single
//! malformed message that was read whole (bad header, wrong descriptor) is
//! refused and the loop goes on. Nothing here ever blocks the server.

use crate::shutdown::{Shutdown, StopReason};
use crate::upstreams::Upstreams;
use nexus_core::Subject;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use wire::handoff::{recv_endpoint, HandoffError};
use wire::{ProtocolError, Server, ServerError};

/// The endpoint name that carries a client connection to this daemon.
pub const SERVE: &str = "serve";

/// Most `serve` endpoints held while the daemon is still starting.
const MAX_PENDING: usize = 256;

enum Target {
    Pending(Vec<(UnixStream, Subject)>),
    Serving(Server),
    Stopped,
}

/// Where `serve` endpoints go: a queue until the server exists, then the
/// server. Cheap to clone; clones share it.
#[derive(Clone)]
pub(crate) struct ServeSlot {
    target: Arc<Mutex<Target>>,
}

impl ServeSlot {
    pub(crate) fn new() -> ServeSlot {
        ServeSlot {
            target: Arc::new(Mutex::new(Target::Pending(Vec::new()))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Target> {
        self.target.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, svc: &str, stream: UnixStream, subject: Subject) {
        let mut t = self.lock();
        match &mut *t {
            Target::Pending(queue) if queue.len() < MAX_PENDING => queue.push((stream, subject)),
            Target::Pending(_) => {
                eprintln!("{svc}: too many endpoints before ready; closed one from {subject}");
            }
            Target::Serving(server) => {
                if let Err(e) = server.add_connection(stream, subject.clone()) {
                    eprintln!("{svc}: cannot serve endpoint from {subject}: {e}");
                }
            }
            Target::Stopped => {}
        }
    }

    /// Start serving through `server`, first every queued endpoint.
    pub(crate) fn attach(&self, server: &Server) -> Result<(), ServerError> {
        let mut t = self.lock();
        if let Target::Pending(queue) = &mut *t {
            for (stream, subject) in queue.drain(..) {
                server.add_connection(stream, subject)?;
            }
            *t = Target::Serving(server.clone());
        }
        Ok(())
    }

    /// Refuse (close) every later endpoint.
    pub(crate) fn stop(&self) {
        *self.lock() = Target::Stopped;
    }
}

/// The running control loop.
pub(crate) struct Control {
    /// A second handle on the channel, to end the loop's blocking read.
    wake: OwnedFd,
    thread: JoinHandle<()>,
}

impl Control {
    /// Read endpoints from `channel` on a new thread.
    pub(crate) fn spawn(
        svc: &'static str,
        channel: OwnedFd,
        serve: ServeSlot,
        upstreams: Upstreams,
        accepted: &'static [&'static str],
        shutdown: Shutdown,
    ) -> io::Result<Control> {
        let wake = channel.try_clone()?;
        let thread = thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let reason = run(svc, &channel, &serve, &upstreams, accepted);
                shutdown.trigger(reason);
            })?;
        Ok(Control { wake, thread })
    }

    /// End the loop (if it still runs) and join it.
    pub(crate) fn stop(self) {
        // A read shutdown makes the blocked recvmsg return end of stream.
        // The supervisor's side is untouched.
        let _ = rustix::net::shutdown(&self.wake, rustix::net::Shutdown::Read);
        let _ = self.thread.join();
    }
}

fn run(
    svc: &str,
    channel: &OwnedFd,
    serve: &ServeSlot,
    upstreams: &Upstreams,
    accepted: &[&str],
) -> StopReason {
    loop {
        match recv_endpoint(channel) {
            Ok(ep) if ep.name.as_str() == SERVE => serve.add(svc, ep.stream, ep.subject),
            Ok(ep) if accepted.contains(&ep.name.as_str()) => {
                eprintln!("{svc}: endpoint to {} received", ep.name);
                upstreams.replace(ep.name.as_str(), ep.stream);
            }
            Ok(ep) => {
                eprintln!("{svc}: refused an endpoint named {}: not expected", ep.name);
            }
            Err(HandoffError::Closed) => return StopReason::ControlClosed,
            Err(
                e @ (HandoffError::Io(_)
                | HandoffError::Truncated
                | HandoffError::Header(ProtocolError::TooLarge)),
            ) => {
                eprintln!("{svc}: control channel failed: {e}");
                return StopReason::ControlFailed;
            }
            Err(e) => eprintln!("{svc}: refused a control message: {e}"),
        }
    }
}
