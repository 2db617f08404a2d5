//! identityd end to end: the real keymintd, identityd and keystored
//! binaries, spawned with control channels on stdin; the test plays
//! nexus-init (endpoint handoff), the administrator (public socket) and
//! the apps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod fast_path;
mod full_disk;
mod instances;
mod latency;
mod ownership;
mod restart;
mod sessions;
mod throttle;
mod upgrade;
