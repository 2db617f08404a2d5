//! Host tests of attestd over the real libraries: keymint on a temp dir,
//! the keystore, the policy engine with an in-memory audit sink, the eat
//! verifier, pycose, and the wire server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attest;
mod attested_changes;
mod common;
mod daemons;
mod e2e;
mod fake_keystored;
mod lifecycle;
mod ops;
mod reject;
mod remote;
