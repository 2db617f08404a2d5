//! A client that survives a restart of its service.
//!
//! Invariant: a request is sent at most once unless the caller declared it
//! idempotent. Reconnecting *before* sending (the cached connection was
//! found closed by a non-blocking check) is always safe, since nothing was
//! sent; retrying *after* sending happens once, and only for idempotent
//! requests, because a lost connection says nothing about whether the
//! service executed the request.

use crate::args::Args;
use crate::client::{Client, ClientConfig};
use crate::error::ClientError;
use ciborium::Value;
use std::path::{Path, PathBuf};

/// Connects on demand to the socket at a path and reconnects when the
/// service went away.
#[derive(Debug)]
pub struct ReconnectingClient {
    path: PathBuf,
    config: ClientConfig,
    conn: Option<Client>,
}

impl ReconnectingClient {
    /// A client for the socket at `path`; nothing is connected yet.
    pub fn new(path: impl AsRef<Path>, config: ClientConfig) -> ReconnectingClient {
        ReconnectingClient {
            path: path.as_ref().to_path_buf(),
            config,
            conn: None,
        }
    }

    fn client(&mut self) -> Result<&mut Client, ClientError> {
        let usable = self.conn.as_ref().is_some_and(Client::is_usable);
        if !usable {
            self.conn = None;
        }
        match &mut self.conn {
            Some(c) => Ok(c),
            slot @ None => Ok(slot.insert(Client::connect_with(&self.path, self.config.clone())?)),
        }
    }

    fn once(&mut self, op: &str, args: &Args) -> Result<Value, ClientError> {
        let result = self.client()?.call(op, args);
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
        self.once(op, args)
    }

    /// Call a request that is safe to repeat (get, list, sign, verify …):
    /// if the connection is lost during the call, reconnect and send it
    /// once more.
    pub fn call_idempotent(&mut self, op: &str, args: &Args) -> Result<Value, ClientError> {
        match self.once(op, args) {
            Err(e) if e.is_connection_lost() => self.once(op, args),
            r => r,
        }
    }
}
