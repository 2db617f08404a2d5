//! Host proof of keystore v1.1, over the real keymint and statefs.
//!
//! Run: `cargo test -p keystore_v1_1_host -- --nocapture` (error messages
//! of the negative tests are printed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod cache;
mod common;
mod delete;
mod import;
mod lifecycle;
mod sealing;
mod storage;
mod upgrade;
