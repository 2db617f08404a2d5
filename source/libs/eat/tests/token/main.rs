#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Token tests, one binary: round trips and rotation, every rejection with
//! its exact code, and interop with Python's pycose.

mod common;
mod interop;
mod reject;
mod reject_claims;
mod roundtrip;
