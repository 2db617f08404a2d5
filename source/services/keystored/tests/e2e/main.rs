//! keystored end to end: the real keymintd and keystored binaries, spawned
//! with control channels on stdin; the test plays nexus-init (endpoint
//! handoff), identityd (towards keymintd) and the apps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod caps;
mod common;
mod damaged;
mod frames;
mod import;
mod key_delete;
mod keys;
mod limits;
mod load;
mod reserve;
mod restart;
mod sign_show;
mod trust;
mod trust_damage;
mod vault;
