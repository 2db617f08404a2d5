//! A client that survives a restart of its service.
//!
//! Invariant: a request is sent at most once unless the caller declared it
//! idempotent. Reconnecting *before* sending (the cached connection was
//! found closed by a non-blocking check) is always safe, since nothing was
//! sent; resending *after* a loss happens only for idempotent requests,
//! because a lost connection says nothing about whether the service
//! executed the request.
//!
//! An idempotent request is resent after each lost connection, for at most
//! [`RECONNECT_WAIT`] after the first loss and at most [`MAX_SENDS`] times
//! in all. One resend is not enough: a service killed while its threads
//! are still exiting keeps its listening socket open for a moment, so the
//! first reconnect can land in the dying listener's queue and be reset too.
//!
//! A service being restarted (its supervisor restarts it within a fraction
//! of a second) refuses connections for a moment. Once a client has been
//! connected, a refused or missing socket on reconnect is retried for at
//! most [`RECONNECT_WAIT`] before the error is reported; nothing has been
//! sent at that point, so waiting is always safe. A client that was never
//! connected reports a refusal at once (the service is not running).

use crate::args::Args;
use crate::client::{Client, ClientConfig};
use crate::error::ClientError;
use ciborium::Value;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a once-connected client waits for its service to accept
/// connections again.
pub const RECONNECT_WAIT: Duration = Duration::from_secs(2);

/// The most times one idempotent request is sent (the first send included).
pub const MAX_SENDS: u32 = 5;

/// The first pause between retries; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Connects on demand to the socket at a path and reconnects when the
/// service went away.
#[derive(Debug)]
pub struct ReconnectingClient {
    path: PathBuf,
    config: ClientConfig,
    conn: Option<Client>,
    was_connected: bool,
}

impl ReconnectingClient {
    /// A client for the socket at `path`; nothing is connected yet.
    pub fn new(path: impl AsRef<Path>, config: ClientConfig) -> ReconnectingClient {
        ReconnectingClient {
            path: path.as_ref().to_path_buf(),
            config,
            conn: None,
            was_connected: false,
        }
    }

    /// Connect; after an earlier connection, wait out a restart until
    /// `deadline` at the latest.
    fn connect(&self, deadline: Instant) -> Result<Client, ClientError> {
        let mut pause = FIRST_PAUSE;
        loop {
            match Client::connect_with(&self.path, self.config.clone()) {
                Err(ClientError::Connect(e))
                    if self.was_connected
                        && matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                        )
                        && Instant::now() + pause < deadline =>
                {
                    thread::sleep(pause);
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                other => return other,
            }
        }
    }

    fn client(&mut self, deadline: Instant) -> Result<&mut Client, ClientError> {
        let usable = self.conn.as_ref().is_some_and(Client::is_usable);
        if !usable {
            self.conn = None;
        }
        if self.conn.is_none() {
            let client = self.connect(deadline)?;
            self.was_connected = true;
            self.conn = Some(client);
        }
        match &mut self.conn {
            Some(c) => Ok(c),
            None => Err(ClientError::Closed),
        }
    }

    fn once(&mut self, op: &str, args: &Args, deadline: Instant) -> Result<Value, ClientError> {
        let result = self.client(deadline)?.call(op, args);
        if let Err(e) = &result {
            if e.is_connection_lost() || self.conn.as_ref().is_some_and(|c| !c.is_usable()) {
                self.conn = None;
            }
        }
        result
    }

    /// Call a request that must not run twice (create, rotate, put …).
    /// A connection lost after sending is reported, not retried.
    pub fn call(&mut self, op: &str, args: &Args) -> Result<Value, ClientError> {
        self.once(op, args, Instant::now() + RECONNECT_WAIT)
    }

    /// Call a request that is safe to repeat (get, list, sign, verify …):
    /// if the connection is lost during the call, reconnect and send it
    /// again, within [`RECONNECT_WAIT`] of the first loss and at most
    /// [`MAX_SENDS`] times in all.
    pub fn call_idempotent(&mut self, op: &str, args: &Args) -> Result<Value, ClientError> {
        let mut sends = 1;
        let mut deadline = Instant::now() + RECONNECT_WAIT;
        let mut pause = FIRST_PAUSE;
        loop {
            let result = self.once(op, args, deadline);
            let lost = matches!(&result, Err(e) if e.is_connection_lost());
            if !lost || sends >= MAX_SENDS {
                return result;
            }
            if sends == 1 {
                // Every resend, and every wait to reconnect for one, falls
                // within RECONNECT_WAIT of the first loss.
                deadline = Instant::now() + RECONNECT_WAIT;
            } else {
                // The first resend goes at once (the usual case: the cached
                // connection died with its server); later ones back off.
                if Instant::now() + pause >= deadline {
                    return result;
                }
                thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            sends += 1;
        }
    }
}
