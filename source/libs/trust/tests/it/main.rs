//! Integration tests for the trust crate, as one test binary so that the
//! shared fixtures are compiled once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod damage;
mod minisign_interop;
mod signers;
mod store;
mod stored;
mod update;
mod verify;
mod worst_case;
