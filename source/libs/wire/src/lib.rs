//! The wire protocol of the Nexus identity subsystem, shared by every daemon
//! and every client.
//!
//! Transport: Unix domain stream sockets. Each message is a *frame*: a 4-byte
//! big-endian length, then exactly that many bytes holding one CBOR map.
//! A request is `{v: 1, id, op, args}`, a reply `{id, ok}` or
//! `{id, err: {code, msg}}` with `code` one of [`nexus_core::ErrorCode`].
//! The full specification is `docs/architecture/wire.md`.
//!
//! Parts:
//! - [`frame`]: reading and writing frames, bounded by [`MAX_FRAME_LEN`].
//! - [`Request`], [`Args`], [`Reply`]: the typed messages, parsed at the edge.
//! - [`Server`]: accepts connections, resolves each caller's [`Subject`]
//!   from the channel (peer credentials, or a fixed subject for endpoints
//!   handed over by the supervisor) and calls a [`Handler`].
//! - [`Client`], [`ReconnectingClient`]: the calling side.
//! - [`handoff`]: passing endpoint sockets from the supervisor to a child.
//!
//! Invariants:
//! - The caller's identity comes from the channel, never from a payload:
//!   [`CallContext`] is built by the server, requests cannot name a subject.
//! - No frame longer than [`MAX_FRAME_LEN`] is read or allocated.
//! - A malformed frame is answered with `EINVAL` and closes only its own
//!   connection; a panicking handler is answered with `EIO`; the server keeps
//!   serving every other connection.

#![forbid(unsafe_code)]

mod args;
mod client;
mod error;
pub mod frame;
pub mod handoff;
mod message;
mod reconnect;
mod scrub;
mod server;
mod shape;
mod wiping;

pub use args::{ArgError, Args};
pub use ciborium::Value;
pub use client::{Client, ClientConfig};
pub use error::{ClientError, WireError, MAX_ERROR_MSG_LEN};
pub use message::{
    decode_reply, decode_request, encode_reply, encode_request, valid_name, BadRequest,
    ProtocolError, Reply, Request, MAX_ARGS, MAX_NAME_LEN, MAX_REQUEST_ITEMS, PROTOCOL_VERSION,
};
pub use reconnect::{ReconnectingClient, MAX_SENDS, RECONNECT_WAIT};
pub use scrub::scrub_value;
pub use server::{
    bind_socket, parse_socket_mode, BoundSocket, CallContext, FixedSubject, Handler, PeerCred,
    PeerCredResolver, Server, ServerConfig, ServerError, ShutdownHandle, SubjectResolver,
    DEFAULT_LINGER, RESERVE_SHARE,
};

pub use nexus_core::{ErrorCode, Subject};

/// The largest frame body (the CBOR map, not counting the 4-byte length
/// prefix) either side accepts: 1 MiB. A length prefix above this is
/// refused before any buffer is allocated.
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// How deeply CBOR arrays, maps and tags may nest inside one frame. The
/// protocol's own messages need 3 levels; the bound keeps a hostile frame
/// from exhausting the stack of the thread that decodes it.
pub const MAX_NESTING: usize = 32;
