//! Throttling of failed logins and unlocks.
//!
//! Schedule (defaults): the first [`ThrottlePolicy::free_failures`] (3)
//! failures cost nothing; after failure `n > 3` the next attempt waits
//! `min(1 s · 2^(n-4), 900 s)`: 1, 2, 4, … 512, then 900 s. A success
//! clears the count.
//!
//! The state lives at `state:/identity/<userId>/throttle` (statefs
//! envelope, magic `NXTH`, version 1, payload `failures u32 |
//! last_failure_at u64`), so a restart does not reset it. It is checked
//! before Argon2 runs: a throttled attempt costs the device nothing.
//!
//! Invariant: the wait is measured from the last failure and never exceeds
//! the cap, even if the clock jumps backwards (the wait then restarts).

use crate::codec::Reader;
use crate::error::IdentityError;
use crate::record::user_dir;
use nexus_core::UserId;
use statefs::{StateFs, StatePath};

const MAGIC: &[u8; 4] = b"NXTH";
const VERSION: u16 = 1;

/// The throttle schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures that cost no delay.
    pub free_failures: u32,
    /// Delay after the first failure beyond the free ones; doubles after.
    pub base_delay_secs: u64,
    /// The longest delay.
    pub max_delay_secs: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 3,
            base_delay_secs: 1,
            max_delay_secs: 900,
        }
    }
}

impl ThrottlePolicy {
    /// Seconds to wait after `failures` consecutive failures.
    pub fn delay_after(&self, failures: u32) -> u64 {
        if failures <= self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures - 1).min(63);
        self.base_delay_secs
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_secs)
    }
}

/// `state:/identity/<user>/throttle`.
pub fn throttle_path(user: &UserId) -> Result<StatePath, IdentityError> {
    Ok(user_dir(user)?
        .join("throttle")
        .map_err(statefs::StateError::from)?)
}

/// Consecutive failures and when the last one happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ThrottleState {
    pub(crate) failures: u32,
    pub(crate) last_failure_at: u64,
}

impl ThrottleState {
    /// Seconds until an attempt is accepted (0: now).
    pub(crate) fn remaining(&self, policy: &ThrottlePolicy, now: u64) -> u64 {
        let delay = policy.delay_after(self.failures);
        let elapsed = now.saturating_sub(self.last_failure_at);
        delay.saturating_sub(elapsed)
    }

    pub(crate) fn failed(self, now: u64) -> Self {
        ThrottleState {
            failures: self.failures.saturating_add(1),
            last_failure_at: now,
        }
    }

    fn encode(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.failures.to_be_bytes());
        out[4..].copy_from_slice(&self.last_failure_at.to_be_bytes());
        out
    }

    fn decode(payload: &[u8]) -> Result<Self, &'static str> {
        let mut r = Reader::new(payload);
        let s = ThrottleState {
            failures: r.u32()?,
            last_failure_at: r.u64()?,
        };
        r.finish()?;
        Ok(s)
    }

    /// The persisted state of `user` (default when there is none).
    pub(crate) fn load(state: &StateFs, user: &UserId) -> Result<Self, IdentityError> {
        let path = throttle_path(user)?;
        match state.read_record(&path, MAGIC, &[VERSION])? {
            None => Ok(ThrottleState::default()),
            Some((_, payload)) => {
                ThrottleState::decode(&payload).map_err(|reason| IdentityError::Corrupt {
                    path: path.to_string(),
                    reason,
                })
            }
        }
    }

    /// Persist (or clear, when there are no failures).
    pub(crate) fn store(&self, state: &StateFs, user: &UserId) -> Result<(), IdentityError> {
        let path = throttle_path(user)?;
        if self.failures == 0 {
            state.delete(&path)?;
        } else {
            state.write_record(&path, MAGIC, VERSION, &self.encode())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    #[test]
    fn schedule_is_free_then_doubling_then_capped() {
        let p = ThrottlePolicy::default();
        let got: Vec<u64> = (0..=15).map(|n| p.delay_after(n)).collect();
        assert_eq!(
            got,
            [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
        );
        assert_eq!(p.delay_after(u32::MAX), 900);
    }

    #[test]
    fn remaining_counts_down_and_survives_clock_going_back() {
        let p = ThrottlePolicy::default();
        let s = ThrottleState {
            failures: 5,
            last_failure_at: 1000,
        };
        assert_eq!(s.remaining(&p, 1000), 2);
        assert_eq!(s.remaining(&p, 1001), 1);
        assert_eq!(s.remaining(&p, 1002), 0);
        assert_eq!(s.remaining(&p, 10), 2);
    }

    #[test]
    fn persists_and_clears() {
        let state = StateFs::volatile();
        let u = UserId::new("alice").unwrap();
        let s = ThrottleState::default().failed(7).failed(9);
        s.store(&state, &u).unwrap();
        assert_eq!(ThrottleState::load(&state, &u).unwrap(), s);
        ThrottleState::default().store(&state, &u).unwrap();
        assert_eq!(state.read(&throttle_path(&u).unwrap()).unwrap(), None);
    }

    #[test]
    fn test_reject_malformed_throttle_record() {
        let state = StateFs::volatile();
        let u = UserId::new("alice").unwrap();
        let path = throttle_path(&u).unwrap();
        let good = ThrottleState {
            failures: 4,
            last_failure_at: 5,
        }
        .encode();
        for cut in 0..good.len() {
            state
                .write_record(&path, MAGIC, VERSION, &good[..cut])
                .unwrap();
            assert_eq!(
                ThrottleState::load(&state, &u).unwrap_err().code(),
                ErrorCode::Eio
            );
        }
        let mut long = good.to_vec();
        long.push(0);
        state.write_record(&path, MAGIC, VERSION, &long).unwrap();
        assert_eq!(
            ThrottleState::load(&state, &u).unwrap_err().code(),
            ErrorCode::Eio
        );
        state.write_record(&path, MAGIC, 9, &good).unwrap();
        assert_eq!(
            ThrottleState::load(&state, &u).unwrap_err().code(),
            ErrorCode::Eio
        );
        state.write_record(&path, b"NXUR", VERSION, &good).unwrap();
        assert_eq!(
            ThrottleState::load(&state, &u).unwrap_err().code(),
            ErrorCode::Eio
        );
        state.write(&path, b"garbage").unwrap();
        assert_eq!(
            ThrottleState::load(&state, &u).unwrap_err().code(),
            ErrorCode::Eio
        );
    }
}
