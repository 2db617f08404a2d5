//! The calling side: one connection, one request at a time.
//!
//! Invariants: request ids start at 1 and never repeat on a connection; a
//! reply is accepted only under the id of the request just sent (or id 0,
//! the server's answer to a request it could not read, which is always an
//! error). After any transport or protocol failure the connection's state
//! is unknown, so the client refuses further calls ([`ClientError::Broken`])
//! rather than risk pairing a late reply with the wrong request.

use crate::args::Args;
use crate::error::ClientError;
use crate::frame::{self, FrameError, TimedReader};
use crate::message::{decode_reply, encode_request, ProtocolError, Reply};
use crate::MAX_FRAME_LEN;
use ciborium::Value;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The longest a call may take, sending and waiting for the complete
    /// reply (default 30 s).
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(30),
        }
    }
}

/// A connection to one service.
pub struct Client {
    stream: UnixStream,
    next_id: u64,
    timeout: Duration,
    broken: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("next_id", &self.next_id)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connect to the service's socket at `path` with default settings.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::connect_with(path, ClientConfig::default())
    }

    /// Connect to the service's socket at `path`.
    pub fn connect_with(
        path: impl AsRef<Path>,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(ClientError::Connect)?;
        Ok(Client::from_stream_with(stream, config))
    }

    /// Use an already connected stream (an endpoint handed over by the
    /// supervisor) with default settings.
    pub fn from_stream(stream: UnixStream) -> Client {
        Client::from_stream_with(stream, ClientConfig::default())
    }

    /// Use an already connected stream.
    pub fn from_stream_with(stream: UnixStream, config: ClientConfig) -> Client {
        Client {
            stream,
            next_id: 1,
            timeout: config.timeout,
            broken: false,
        }
    }

    /// Change the call timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Whether the connection can still carry a call: no earlier failure
    /// and the service has not closed it. Checked without blocking.
    pub fn is_usable(&self) -> bool {
        !self.broken && !frame::peer_gone(&self.stream)
    }

    /// Call `op` with `args` and wait for the reply.
    pub fn call(&mut self, op: &str, args: &Args) -> Result<Value, ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        let id = self.next_id;
        let body = encode_request(id, op, args).map_err(ClientError::Request)?;
        let bytes = frame::encode_frame(&body, MAX_FRAME_LEN)
            .map_err(|_| ClientError::Request(ProtocolError::TooLarge))?;
        drop(body);
        self.next_id = id.checked_add(1).unwrap_or(1);
        let deadline = Instant::now() + self.timeout;
        let result = self.exchange(id, &bytes, deadline);
        if let Err(e) = &result {
            if !matches!(e, ClientError::Remote { .. }) {
                self.broken = true;
            }
        }
        result
    }

    fn exchange(&mut self, id: u64, bytes: &[u8], deadline: Instant) -> Result<Value, ClientError> {
        let sent = self
            .stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|()| frame::send_all(&self.stream, bytes));
        if let Err(e) = sent {
            // The service may have answered before closing (a refusal over
            // the connection cap, a frame it would not read): prefer that
            // answer to the bare transport error.
            let soon = Instant::now() + Duration::from_millis(100);
            if let Ok(Reply {
                id: 0,
                outcome: Err(remote),
            }) = self.read_reply(soon.min(deadline))
            {
                self.broken = true;
                return Err(remote.into());
            }
            return Err(match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout,
                _ => ClientError::Io(e),
            });
        }
        let reply = self.read_reply(deadline)?;
        match reply {
            Reply { id: got, outcome } if got == id => outcome.map_err(ClientError::from),
            Reply {
                id: 0,
                outcome: Err(remote),
            } => {
                // The service could not read the request and closes.
                self.broken = true;
                Err(remote.into())
            }
            _ => Err(ClientError::Protocol(ProtocolError::WrongType("id"))),
        }
    }

    fn read_reply(&mut self, deadline: Instant) -> Result<Reply, ClientError> {
        let mut reader = TimedReader::until(&self.stream, deadline);
        let body = match frame::read_frame(&mut reader, MAX_FRAME_LEN) {
            Ok(Some(b)) => b,
            Ok(None) => return Err(ClientError::Closed),
            Err(FrameError::Idle | FrameError::TimedOut) => return Err(ClientError::Timeout),
            Err(e) => return Err(ClientError::Frame(e)),
        };
        decode_reply(&body).map_err(ClientError::Protocol)
    }
}
