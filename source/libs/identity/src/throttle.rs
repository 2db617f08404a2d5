//! Throttling of failed logins, unlocks and password changes, per user
//! instance *and* caller.
//!
//! Schedule (defaults): the first [`ThrottlePolicy::free_failures`] (3)
//! failures cost nothing; after failure `n > 3` the next attempt waits
//! `min(1 s · 2^(n-4), 900 s)`: 1, 2, 4, … 512, then 900 s. A success
//! clears the count. The count is kept per caller (the subject of the
//! channel), so one app guessing a user's password delays that app only:
//! the app the user logs in with keeps its own count.
//!
//! The state lives at `state:/identity/<user>/throttle` (statefs envelope,
//! magic `NXTH`, version 2):
//!
//! ```text
//! instance[16] | shared_failures u32 | shared_last u64 | count u8
//! | count × ( subject_len u8 | subject | failures u32 | last_failure_at u64 )
//! ```
//!
//! with subjects strictly ascending and at most [`MAX_CALLERS`] of them.
//! `shared` is the count carried over from the first format (version 1:
//! `failures u32 | last_failure_at u64`, one count for every caller): it
//! is added to every caller's own count until a success clears it. A record whose
//! instance is not the user's current one is stale (from a deleted
//! instance) and counts as none. It is checked before Argon2 runs: a
//! throttled attempt costs the device nothing.
//!
//! Invariant: the wait is measured from the last failure and never exceeds
//! the cap, even if the clock jumps backwards (the wait then restarts).

use crate::codec::Reader;
use crate::error::IdentityError;
use crate::record::user_dir;
use nexus_core::{InstanceId, Subject, UserId};
use statefs::{StateFs, StatePath};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"NXTH";
const VERSION: u16 = 2;
const VERSION_FIRST: u16 = 1;
/// Callers remembered per user; beyond, the entry whose last failure is
/// oldest makes room.
pub const MAX_CALLERS: usize = 16;

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

    fn read(r: &mut Reader<'_>) -> Result<Self, &'static str> {
        Ok(ThrottleState {
            failures: r.u32()?,
            last_failure_at: r.u64()?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.failures.to_be_bytes());
        out.extend_from_slice(&self.last_failure_at.to_be_bytes());
    }
}

/// One user instance's failure counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThrottleRecord {
    instance: InstanceId,
    shared: ThrottleState,
    callers: BTreeMap<Subject, ThrottleState>,
}

impl ThrottleRecord {
    fn empty(instance: InstanceId) -> Self {
        ThrottleRecord {
            instance,
            shared: ThrottleState::default(),
            callers: BTreeMap::new(),
        }
    }

    /// Seconds `caller` must wait before trying again: its own count plus
    /// the shared one, from the later of their last failures.
    pub(crate) fn remaining(&self, caller: &Subject, policy: &ThrottlePolicy, now: u64) -> u64 {
        let own = self.callers.get(caller).copied().unwrap_or_default();
        ThrottleState {
            failures: own.failures.saturating_add(self.shared.failures),
            last_failure_at: own.last_failure_at.max(self.shared.last_failure_at),
        }
        .remaining(policy, now)
    }

    /// The record with one more failure of `caller` at `now`.
    pub(crate) fn failed(&self, caller: &Subject, now: u64) -> Self {
        let mut next = self.clone();
        let own = next.callers.get(caller).copied().unwrap_or_default();
        next.callers.insert(caller.clone(), own.failed(now));
        if next.callers.len() > MAX_CALLERS {
            // The oldest last failure goes (never the one just counted).
            if let Some(oldest) = next
                .callers
                .iter()
                .filter(|(s, _)| *s != caller)
                .min_by_key(|(_, st)| st.last_failure_at)
                .map(|(s, _)| s.clone())
            {
                next.callers.remove(&oldest);
            }
        }
        next
    }

    /// The record after a success of `caller`: its count and the shared
    /// one are cleared.
    pub(crate) fn succeeded(&self, caller: &Subject) -> Self {
        let mut next = self.clone();
        next.callers.remove(caller);
        next.shared = ThrottleState::default();
        next
    }

    fn encode(&self) -> Result<Vec<u8>, IdentityError> {
        let count = u8::try_from(self.callers.len())
            .map_err(|_| IdentityError::Invalid("too many callers"))?;
        let mut out = Vec::with_capacity(16 + 12 + 1 + self.callers.len() * 90);
        out.extend_from_slice(self.instance.as_bytes());
        self.shared.write(&mut out);
        out.push(count);
        for (subject, st) in &self.callers {
            let s = subject.to_string();
            let len = u8::try_from(s.len()).map_err(|_| IdentityError::Invalid("subject"))?;
            out.push(len);
            out.extend_from_slice(s.as_bytes());
            st.write(&mut out);
        }
        Ok(out)
    }

    fn decode(payload: &[u8]) -> Result<Self, &'static str> {
        let mut r = Reader::new(payload);
        let instance = InstanceId::from_bytes(r.array()?);
        let shared = ThrottleState::read(&mut r)?;
        let count = usize::from(r.u8()?);
        if count > MAX_CALLERS {
            return Err("too many callers");
        }
        let mut callers = BTreeMap::new();
        let mut prev: Option<Subject> = None;
        for _ in 0..count {
            let len = usize::from(r.u8()?);
            let text = std::str::from_utf8(r.take(len)?).map_err(|_| "subject is not UTF-8")?;
            let subject: Subject = text.parse().map_err(|_| "invalid subject")?;
            if subject.to_string() != text {
                return Err("subject not in its canonical form");
            }
            if prev.as_ref().is_some_and(|p| p >= &subject) {
                return Err("callers out of order or duplicated");
            }
            callers.insert(subject.clone(), ThrottleState::read(&mut r)?);
            prev = Some(subject);
        }
        r.finish()?;
        Ok(ThrottleRecord {
            instance,
            shared,
            callers,
        })
    }

    /// The counts of `instance` (of user `user`); `legacy`: the instance
    /// was upgraded from the first format, whose single count it inherits.
    pub(crate) fn load(
        state: &StateFs,
        user: &UserId,
        instance: InstanceId,
        legacy: bool,
    ) -> Result<Self, IdentityError> {
        let path = throttle_path(user)?;
        let corrupt = |reason| IdentityError::Corrupt {
            path: path.to_string(),
            reason,
        };
        match state.read_record(&path, MAGIC, &[VERSION_FIRST, VERSION])? {
            None => Ok(Self::empty(instance)),
            Some((VERSION_FIRST, payload)) => {
                let mut r = Reader::new(&payload);
                let first = ThrottleState::read(&mut r).map_err(corrupt)?;
                r.finish().map_err(corrupt)?;
                let mut rec = Self::empty(instance);
                if legacy {
                    rec.shared = first;
                }
                Ok(rec)
            }
            Some((_, payload)) => {
                let rec = Self::decode(&payload).map_err(corrupt)?;
                if rec.instance == instance {
                    Ok(rec)
                } else {
                    Ok(Self::empty(instance))
                }
            }
        }
    }

    /// Persist (or remove, when nothing is counted).
    pub(crate) fn store(&self, state: &StateFs, user: &UserId) -> Result<(), IdentityError> {
        let path = throttle_path(user)?;
        if self.callers.is_empty() && self.shared.failures == 0 {
            state.delete(&path)?;
        } else {
            state.write_record(&path, MAGIC, VERSION, &self.encode()?)?;
        }
        Ok(())
    }

    /// Remove `user`'s throttle record.
    pub(crate) fn delete(state: &StateFs, user: &UserId) -> Result<(), IdentityError> {
        state.delete(&throttle_path(user)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    fn alpha() -> Subject {
        "app:com.example.alpha".parse().unwrap()
    }

    fn beta() -> Subject {
        "app:com.example.beta".parse().unwrap()
    }

    fn inst(b: u8) -> InstanceId {
        InstanceId::from_bytes([b; 16])
    }

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
    fn counts_are_per_caller_and_persist() {
        let p = ThrottlePolicy::default();
        let state = StateFs::volatile();
        let u = UserId::new("alice").unwrap();
        let mut rec = ThrottleRecord::load(&state, &u, inst(1), false).unwrap();
        for t in 0..5 {
            rec = rec.failed(&beta(), 100 + t);
        }
        rec.store(&state, &u).unwrap();
        let rec = ThrottleRecord::load(&state, &u, inst(1), false).unwrap();
        assert_eq!(rec.remaining(&beta(), &p, 104), 2);
        assert_eq!(rec.remaining(&alpha(), &p, 104), 0);
        // Another instance of the same name inherits nothing.
        let other = ThrottleRecord::load(&state, &u, inst(2), false).unwrap();
        assert_eq!(other.remaining(&beta(), &p, 104), 0);
        // A success clears the caller's count; nothing left: no file.
        rec.succeeded(&beta()).store(&state, &u).unwrap();
        assert_eq!(state.read(&throttle_path(&u).unwrap()).unwrap(), None);
    }

    #[test]
    fn callers_are_bounded_oldest_failure_first() {
        let mut rec = ThrottleRecord::empty(inst(1));
        for i in 0..MAX_CALLERS + 3 {
            let s: Subject = format!("app:com.example.a{i:02}").parse().unwrap();
            rec = rec.failed(&s, i as u64);
        }
        assert_eq!(rec.callers.len(), MAX_CALLERS);
        let kept: Subject = format!("app:com.example.a{:02}", MAX_CALLERS + 2)
            .parse()
            .unwrap();
        assert!(rec.callers.contains_key(&kept));
        let gone: Subject = "app:com.example.a00".parse().unwrap();
        assert!(!rec.callers.contains_key(&gone));
        let enc = rec.encode().unwrap();
        assert_eq!(ThrottleRecord::decode(&enc).unwrap(), rec);
    }

    #[test]
    fn a_first_format_count_applies_to_every_caller_of_an_upgraded_instance() {
        let p = ThrottlePolicy::default();
        let state = StateFs::volatile();
        let u = UserId::new("alice").unwrap();
        let path = throttle_path(&u).unwrap();
        let mut v1 = 6u32.to_be_bytes().to_vec();
        v1.extend_from_slice(&1000u64.to_be_bytes());
        state.write_record(&path, MAGIC, 1, &v1).unwrap();
        let rec = ThrottleRecord::load(&state, &u, inst(1), true).unwrap();
        assert_eq!(rec.remaining(&alpha(), &p, 1000), 4);
        assert_eq!(rec.remaining(&beta(), &p, 1000), 4);
        assert_eq!(rec.succeeded(&alpha()).remaining(&beta(), &p, 1000), 0);
        // A new (not upgraded) instance inherits nothing of it.
        let fresh = ThrottleRecord::load(&state, &u, inst(2), false).unwrap();
        assert_eq!(fresh.remaining(&alpha(), &p, 1000), 0);
    }

    #[test]
    fn test_reject_malformed_throttle_record() {
        let state = StateFs::volatile();
        let u = UserId::new("alice").unwrap();
        let path = throttle_path(&u).unwrap();
        let load = || ThrottleRecord::load(&state, &u, inst(1), false);
        let good = ThrottleRecord::empty(inst(1))
            .failed(&alpha(), 5)
            .failed(&beta(), 6)
            .encode()
            .unwrap();
        for cut in 0..good.len() {
            state
                .write_record(&path, MAGIC, VERSION, &good[..cut])
                .unwrap();
            assert_eq!(load().unwrap_err().code(), ErrorCode::Eio, "cut {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        state.write_record(&path, MAGIC, VERSION, &long).unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
        // Callers out of order, a bad subject, too many callers.
        let beta_at = 16 + 12 + 1 + 1 + alpha().to_string().len() + 12;
        let mut swapped = good.clone();
        swapped[beta_at + 1..beta_at + 1 + 3].copy_from_slice(b"abc");
        state.write_record(&path, MAGIC, VERSION, &swapped).unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
        let mut many = good.clone();
        many[28] = (MAX_CALLERS + 1) as u8;
        state.write_record(&path, MAGIC, VERSION, &many).unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
        state.write_record(&path, MAGIC, 9, &good).unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
        state.write_record(&path, b"NXUR", VERSION, &good).unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
        state.write(&path, b"garbage").unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
        // A first-format record of the wrong length.
        state.write_record(&path, MAGIC, 1, &[0; 11]).unwrap();
        assert_eq!(load().unwrap_err().code(), ErrorCode::Eio);
    }
}
