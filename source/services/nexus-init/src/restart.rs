//! The restart policy: how long to wait before restarting a service that
//! died, and when to stop trying.
//!
//! The delay doubles with every restart inside the sliding window (the
//! first restart after a quiet window waits `initial`), capped at `max`.
//! A service that would need more than `max_per_window` restarts within
//! one window is given up on: a crash loop is reported, not hidden.
//!
//! Invariants: the tracker is pure (time comes in as an argument), so the
//! policy is tested without sleeping; a delay never exceeds `max`; the
//! history never holds more than `max_per_window` entries.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The knobs of the policy (manifest table `[restart]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart in a window.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How many restarts a window may hold before the service is failed.
    pub max_per_window: u32,
    /// The window's length.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_per_window: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// What to do about a service that just died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart it after this delay.
    RestartAfter(Duration),
    /// It died too often within the window: mark it failed.
    GiveUp {
        /// Restarts already made within the window.
        restarts: u32,
    },
}

/// The restart history of one service.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    recent: VecDeque<Instant>,
}

impl RestartTracker {
    /// A tracker with no history.
    pub fn new(policy: RestartPolicy) -> RestartTracker {
        RestartTracker {
            policy,
            recent: VecDeque::new(),
        }
    }

    /// The service died at `now`: decide, and record the restart if one is
    /// granted.
    pub fn on_exit(&mut self, now: Instant) -> Decision {
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) >= self.policy.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let count = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if count >= self.policy.max_per_window {
            return Decision::GiveUp { restarts: count };
        }
        self.recent.push_back(now);
        let factor = 1u32.checked_shl(count).unwrap_or(u32::MAX);
        let delay = self
            .policy
            .initial
            .checked_mul(factor)
            .unwrap_or(self.policy.max)
            .min(self.policy.max);
        Decision::RestartAfter(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_up_to_the_cap_then_give_up() {
        let policy = RestartPolicy {
            initial: ms(100),
            max: ms(500),
            max_per_window: 5,
            window: Duration::from_secs(60),
        };
        let mut t = RestartTracker::new(policy);
        let start = Instant::now();
        let got: Vec<Decision> = (0..6).map(|i| t.on_exit(start + ms(i))).collect();
        assert_eq!(
            got,
            vec![
                Decision::RestartAfter(ms(100)),
                Decision::RestartAfter(ms(200)),
                Decision::RestartAfter(ms(400)),
                Decision::RestartAfter(ms(500)),
                Decision::RestartAfter(ms(500)),
                Decision::GiveUp { restarts: 5 },
            ]
        );
    }

    #[test]
    fn a_quiet_window_resets_the_delay() {
        let mut t = RestartTracker::new(RestartPolicy::default());
        let start = Instant::now();
        assert_eq!(t.on_exit(start), Decision::RestartAfter(ms(100)));
        assert_eq!(t.on_exit(start + ms(10)), Decision::RestartAfter(ms(200)));
        // Both restarts fall out of the 60 s window.
        let later = start + Duration::from_secs(61);
        assert_eq!(t.on_exit(later), Decision::RestartAfter(ms(100)));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let policy = RestartPolicy {
            initial: Duration::from_secs(u64::MAX / 2),
            max: Duration::from_secs(5),
            max_per_window: 100,
            window: Duration::from_secs(60),
        };
        let mut t = RestartTracker::new(policy);
        let now = Instant::now();
        for _ in 0..40 {
            assert_eq!(
                t.on_exit(now),
                Decision::RestartAfter(Duration::from_secs(5))
            );
        }
    }
}
