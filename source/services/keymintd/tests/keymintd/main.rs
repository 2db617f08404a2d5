//! keymintd end to end: the real binary, spawned with a control channel on
//! stdin; this test plays nexus-init (wire::handoff) and the two callers
//! (through `RemoteKeyMint` and raw wire clients).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod common;
mod import;
mod lifecycle;
mod ops;
