//! `LOCK` / `UNLOCK` (`ssh-add -x` / `-X`): while locked the agent lists
//! no identities and refuses everything but `UNLOCK`.
//!
//! Invariants: the passphrase itself is never kept: only a salted SHA-256
//! digest of it (zeroized on drop), compared in constant time; failed
//! unlocks are throttled for the whole agent, not per connection (so
//! opening more connections does not buy more guesses): after the n-th
//! failure no attempt is even compared until 100 ms × 2^(n−1) (at most
//! [`MAX_DELAY`]) have passed, and an attempt inside that window fails
//! without counting.

use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The first throttle delay after a failed unlock.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest throttle delay.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

struct Sealed {
    salt: [u8; 16],
    digest: Zeroizing<[u8; 32]>,
}

fn digest(salt: &[u8; 16], passphrase: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(b"nexus-ssh-agent lock v1\0");
    h.update(salt);
    h.update(passphrase);
    Zeroizing::new(h.finalize().into())
}

/// What an `UNLOCK` came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockOutcome {
    /// Unlocked.
    Unlocked,
    /// The agent was not locked.
    NotLocked,
    /// Wrong passphrase (the throttle delay is now this long).
    Wrong(Duration),
    /// Refused without comparing: the throttle window is open for this
    /// much longer.
    Throttled(Duration),
}

/// The lock and its throttle.
#[derive(Default)]
pub struct Lock {
    sealed: Option<Sealed>,
    failures: u32,
    next_try: Option<Instant>,
}

impl Lock {
    /// Whether the agent is locked.
    pub fn is_locked(&self) -> bool {
        self.sealed.is_some()
    }

    /// Lock with `passphrase`; false if already locked or no randomness.
    pub fn lock(&mut self, passphrase: &[u8]) -> bool {
        if self.sealed.is_some() {
            return false;
        }
        let mut salt = [0u8; 16];
        if getrandom::getrandom(&mut salt).is_err() {
            return false;
        }
        self.sealed = Some(Sealed {
            digest: digest(&salt, passphrase),
            salt,
        });
        true
    }

    /// Try to unlock with `passphrase` at time `now`.
    pub fn unlock(&mut self, passphrase: &[u8], now: Instant) -> UnlockOutcome {
        let Some(sealed) = &self.sealed else {
            return UnlockOutcome::NotLocked;
        };
        if let Some(at) = self.next_try {
            if now < at {
                return UnlockOutcome::Throttled(at - now);
            }
        }
        let attempt = digest(&sealed.salt, passphrase);
        if bool::from(attempt.ct_eq(&*sealed.digest)) {
            self.sealed = None;
            self.failures = 0;
            self.next_try = None;
            return UnlockOutcome::Unlocked;
        }
        self.failures = self.failures.saturating_add(1);
        let shift = self.failures.saturating_sub(1).min(16);
        let delay = FIRST_DELAY.saturating_mul(1 << shift).min(MAX_DELAY);
        self.next_try = Some(now + delay);
        UnlockOutcome::Wrong(delay)
    }
}
