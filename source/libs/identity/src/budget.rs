//! The failure budget of each caller, over every user name (known or
//! not): a token bucket of [`CallerBudget::burst`] failures that regains
//! one failure every [`CallerBudget::refill_secs`]. A caller with an empty
//! bucket gets `EAGAIN` before any work; successes do not refill it, so a
//! caller cannot launder its guesses with logins of its own user.
//!
//! This is what stops a caller from spraying guesses over fresh names (the
//! per-user counts never grow for those). Held in memory: a restart of
//! identityd refills every bucket (the per-user counts are persisted).
//!
//! Invariant: the table holds at most [`MAX_CALLERS`] callers; a full
//! table forgets the callers whose bucket is full again first.

use nexus_core::Subject;
use std::collections::HashMap;

/// Callers tracked at most.
const MAX_CALLERS: usize = 4096;

/// The per-caller failure budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerBudget {
    /// Failures a caller may make in a burst.
    pub burst: u32,
    /// Seconds to regain one failure.
    pub refill_secs: u64,
}

impl Default for CallerBudget {
    fn default() -> Self {
        CallerBudget {
            burst: 10,
            refill_secs: 30,
        }
    }
}

/// One caller's bucket: failures spent, as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    spent: u32,
    at: u64,
}

impl Bucket {
    /// The bucket at `now`, refilled for the time passed.
    fn at(self, b: &CallerBudget, now: u64) -> Bucket {
        let refill = b.refill_secs.max(1);
        let regained = now.saturating_sub(self.at) / refill;
        let spent = u64::from(self.spent).saturating_sub(regained);
        Bucket {
            spent: u32::try_from(spent).unwrap_or(u32::MAX),
            // Keep the remainder of a partly regained failure.
            at: if spent == 0 {
                now
            } else {
                self.at.saturating_add(regained.saturating_mul(refill))
            },
        }
    }
}

/// Every caller's bucket.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    buckets: HashMap<Subject, Bucket>,
}

impl Budgets {
    /// Seconds until `caller` may fail again (0: now).
    pub(crate) fn remaining(&self, caller: &Subject, b: &CallerBudget, now: u64) -> u64 {
        let Some(bucket) = self.buckets.get(caller) else {
            return 0;
        };
        let bucket = bucket.at(b, now);
        if bucket.spent < b.burst {
            0
        } else {
            let refill = b.refill_secs.max(1);
            (bucket.at.saturating_add(refill))
                .saturating_sub(now)
                .max(1)
        }
    }

    /// Failures `caller` has spent from its bucket at `now` (its rank at
    /// the gate: fewer go first).
    pub(crate) fn spent(&self, caller: &Subject, b: &CallerBudget, now: u64) -> u32 {
        self.buckets
            .get(caller)
            .map_or(0, |bucket| bucket.at(b, now).spent)
    }

    /// `caller` failed at `now`.
    pub(crate) fn spend(&mut self, caller: &Subject, b: &CallerBudget, now: u64) {
        if self.buckets.len() >= MAX_CALLERS && !self.buckets.contains_key(caller) {
            self.buckets.retain(|_, bucket| bucket.at(b, now).spent > 0);
            if self.buckets.len() >= MAX_CALLERS {
                // Full of active guessers: forget the oldest.
                if let Some(oldest) = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, bucket)| bucket.at)
                    .map(|(s, _)| s.clone())
                {
                    self.buckets.remove(&oldest);
                }
            }
        }
        let bucket = self
            .buckets
            .get(caller)
            .map_or(Bucket { spent: 0, at: now }, |bucket| bucket.at(b, now));
        self.buckets.insert(
            caller.clone(),
            Bucket {
                spent: bucket.spent.saturating_add(1),
                at: bucket.at,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: &str) -> Subject {
        format!("app:com.example.{n}").parse().unwrap()
    }

    #[test]
    fn burst_then_one_per_refill_and_successes_do_not_refill() {
        let b = CallerBudget {
            burst: 3,
            refill_secs: 10,
        };
        let mut t = Budgets::default();
        let a = s("a");
        for _ in 0..3 {
            assert_eq!(t.remaining(&a, &b, 100), 0);
            t.spend(&a, &b, 100);
        }
        assert_eq!(t.remaining(&a, &b, 100), 10);
        assert_eq!(t.remaining(&a, &b, 105), 5);
        // Another caller is untouched.
        assert_eq!(t.remaining(&s("b"), &b, 105), 0);
        // One failure regained after 10 s, then spent again.
        assert_eq!(t.remaining(&a, &b, 110), 0);
        t.spend(&a, &b, 110);
        assert_eq!(t.remaining(&a, &b, 110), 10);
        // Everything back after burst × refill.
        assert_eq!(t.remaining(&a, &b, 140), 0);
        for _ in 0..3 {
            t.spend(&a, &b, 140);
        }
        assert_eq!(t.remaining(&a, &b, 140), 10);
    }

    #[test]
    fn the_table_is_bounded() {
        let b = CallerBudget::default();
        let mut t = Budgets::default();
        for i in 0..MAX_CALLERS + 10 {
            t.spend(&s(&format!("c{i}")), &b, i as u64);
        }
        assert!(t.buckets.len() <= MAX_CALLERS);
    }
}
