//! The keychain against fake services that speak services.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod errors;
mod keyfmt;
mod reconnect;
mod shapes;
