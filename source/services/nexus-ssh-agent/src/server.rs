//! Serving connections: one thread per connection, each reading a
//! message, answering it, and reading the next.
//!
//! Invariants: a malformed message (bad contents inside a well-framed
//! message) gets `SSH_AGENT_FAILURE` and the connection goes on; a broken
//! frame (zero or over-limit length, the stream ending or stalling inside
//! a message) closes that connection only; at most [`MAX_CONNECTIONS`]
//! connections are served at once (more are closed at once); a peer that
//! is neither the agent's user nor root is closed before anything is read.

use crate::agent::{Agent, Connection};
use crate::frame::{read_message, write_message, FrameError};
use crate::log;
use crate::proto::{parse_request, Response};
use crate::socket::peer_allowed;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Accept connections on `listener` for as long as it works (on a thread
/// of the caller's choosing).
pub fn accept_loop(agent: Arc<Agent>, listener: UnixListener) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log(&format!("accept: {e}"));
                continue;
            }
        };
        if !peer_allowed(&stream) {
            log("connection refused: the peer is neither this agent's user nor root");
            continue;
        }
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            log(&format!(
                "connection refused: {MAX_CONNECTIONS} connections are open"
            ));
            continue;
        }
        let (agent, open) = (Arc::clone(&agent), Arc::clone(&open));
        let spawned = thread::Builder::new()
            .name("agent-conn".into())
            .spawn(move || {
                serve_connection(&agent, stream);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            log(&format!("connection dropped: no thread: {e}"));
        }
    }
}

/// Serve one connection until it closes or breaks.
pub fn serve_connection(agent: &Agent, mut stream: UnixStream) {
    let mut conn = Connection::default();
    loop {
        let body = match read_message(&mut stream) {
            Ok(b) => b,
            Err(FrameError::Closed) => return,
            Err(e) => {
                log(&format!("connection closed: {e}"));
                return;
            }
        };
        let reply = match parse_request(&body) {
            Ok(req) => agent.handle(&mut conn, req),
            Err(e) => {
                log(&format!("malformed message refused: {e}"));
                Response::Failure
            }
        };
        drop(body);
        if let Err(e) = write_message(&mut stream, &reply.encode()) {
            log(&format!("connection closed: writing a reply: {e}"));
            return;
        }
    }
}
