//! keystored end to end: the real keymintd and keystored binaries, spawned
//! with control channels on stdin; the test plays nexus-init (endpoint
//! handoff), identityd (towards keymintd) and the apps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod frames;
mod keys;
mod load;
mod reserve;
mod restart;
mod trust;
mod vault;
