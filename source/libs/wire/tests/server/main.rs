//! End-to-end tests of the server and client over real Unix sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod behaviour;
mod common;
mod fairness;
mod linger;
mod reject;
