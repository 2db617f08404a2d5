//! Helpers shared by the test files.

use keymint::Entropy;
use keystore::{DefaultQuota, KeyName, QuotaSource};
use keystore_v1_1_host::Stack;
use nexus_core::{Coded, ErrorCode, ManualClock, Subject};
use std::fmt::Debug;
use std::sync::Arc;

pub const T0: u64 = 1_700_000_000;

pub fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

pub fn key(app: &str, purpose: &str, name: &str) -> KeyName {
    KeyName::parse(app, purpose, name).unwrap()
}

/// A volatile stack with OS entropy, a manual clock and default quotas.
pub fn volatile() -> (Stack, ManualClock) {
    let clock = ManualClock::new(T0);
    let stack = Stack::over(
        statefs::StateFs::volatile(),
        Entropy::os(),
        Arc::new(clock.clone()),
        Arc::new(DefaultQuota),
    )
    .unwrap();
    (stack, clock)
}

/// A durable stack over `dir` with OS entropy.
pub fn durable(dir: &std::path::Path, quota: Arc<dyn QuotaSource>) -> Stack {
    Stack::open(dir, Entropy::os(), Arc::new(ManualClock::new(T0)), quota).unwrap()
}

/// Assert `r` failed with exactly `code`; return the message.
#[track_caller]
pub fn expect_code<T: Debug, E: Coded + std::fmt::Display + Debug>(
    r: Result<T, E>,
    code: ErrorCode,
) -> String {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code(), code, "wrong code for error: {e}");
    println!("  {code}: {e}");
    e.to_string()
}
