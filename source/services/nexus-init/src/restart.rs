//! The restart policy: how long to wait before restarting a daemon that
//! died, and what a crash loop leads to.
//!
//! The delay doubles with every restart inside the sliding window (the
//! first restart after a quiet window waits `initial`), capped at `max`.
//! A daemon that would need more than `max_per_window` restarts within one
//! window is in a crash loop; what happens then depends on
//! [`Persistence`]:
//!
//! - during boot ([`Persistence::Boot`]) it is failed for good, and the
//!   boot with it: a stack that cannot come up once is a fault of the image
//!   or its configuration, to be reported, not hidden;
//! - a core daemon after boot ([`Persistence::Core`]: one others depend
//!   on) is never given up: it is restarted every `max` for as long as it
//!   keeps dying, so the stack returns to serving on its own once the
//!   cause goes away;
//! - any other daemon after boot ([`Persistence::Other`]) is marked failed
//!   (visible in `init.status`) and given a new round of restarts after
//!   `failed_retry`, so a broken leaf costs a few starts a minute, not a
//!   loop.
//!
//! Invariants: the tracker is pure (time comes in as an argument), so the
//! policy is tested without sleeping; a delay never exceeds `max` (core) or
//! `failed_retry` (other); the history never holds more than
//! `max_per_window` entries.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The knobs of the policy (manifest table `[restart]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart in a window.
    pub initial: Duration,
    /// The longest delay between restarts.
    pub max: Duration,
    /// How many restarts a window may hold before the daemon is in a crash
    /// loop.
    pub max_per_window: u32,
    /// The window's length.
    pub window: Duration,
    /// How long a non-core daemon in a crash loop stays failed before its
    /// next round of restarts.
    pub failed_retry: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_per_window: 5,
            window: Duration::from_secs(60),
            failed_retry: Duration::from_secs(60),
        }
    }
}

/// How hard to keep a daemon running (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Before `init: ready`: a crash loop fails the boot.
    Boot,
    /// After boot, a daemon others depend on: never given up.
    Core,
    /// After boot, any other daemon: failed for a while after a crash
    /// loop, then tried again.
    Other,
}

/// What to do about a daemon that just died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart it after this delay.
    RestartAfter(Duration),
    /// It died too often within the window: mark it failed, and start it
    /// again after `retry` (never, if `None`).
    Failed {
        /// Restarts already made within the window.
        restarts: u32,
        /// When to try again.
        retry: Option<Duration>,
    },
}

/// The restart history of one daemon.
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

    /// The daemon died at `now`: decide, and record the restart if one is
    /// granted.
    pub fn on_exit(&mut self, now: Instant, persistence: Persistence) -> Decision {
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) >= self.policy.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let count = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if count >= self.policy.max_per_window {
            return match persistence {
                Persistence::Boot => Decision::Failed {
                    restarts: count,
                    retry: None,
                },
                Persistence::Core => {
                    self.recent.pop_front();
                    self.recent.push_back(now);
                    Decision::RestartAfter(self.policy.max)
                }
                Persistence::Other => Decision::Failed {
                    restarts: count,
                    retry: Some(self.policy.failed_retry),
                },
            };
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

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial: ms(100),
            max: ms(500),
            max_per_window: 5,
            window: Duration::from_secs(60),
            failed_retry: Duration::from_secs(30),
        }
    }

    #[test]
    fn during_boot_delays_double_up_to_the_cap_then_give_up() {
        let mut t = RestartTracker::new(policy());
        let start = Instant::now();
        let got: Vec<Decision> = (0..6)
            .map(|i| t.on_exit(start + ms(i), Persistence::Boot))
            .collect();
        assert_eq!(
            got,
            vec![
                Decision::RestartAfter(ms(100)),
                Decision::RestartAfter(ms(200)),
                Decision::RestartAfter(ms(400)),
                Decision::RestartAfter(ms(500)),
                Decision::RestartAfter(ms(500)),
                Decision::Failed {
                    restarts: 5,
                    retry: None
                },
            ]
        );
    }

    #[test]
    fn a_core_daemon_is_never_given_up() {
        let mut t = RestartTracker::new(policy());
        let start = Instant::now();
        // Killed every 200 ms, a hundred times: always restarted, at most
        // `max` later.
        for i in 0..100 {
            match t.on_exit(start + ms(200 * i), Persistence::Core) {
                Decision::RestartAfter(d) => assert!(d <= ms(500)),
                other => panic!("core daemon given up: {other:?}"),
            }
        }
        assert!(t.recent.len() <= 5);
        // Quiet for a window: back to the first delay.
        let later = start + ms(200 * 100) + Duration::from_secs(61);
        assert_eq!(
            t.on_exit(later, Persistence::Core),
            Decision::RestartAfter(ms(100))
        );
    }

    #[test]
    fn another_daemon_fails_for_a_while_then_gets_a_new_round() {
        let mut t = RestartTracker::new(policy());
        let start = Instant::now();
        for i in 0..5 {
            assert!(matches!(
                t.on_exit(start + ms(i), Persistence::Other),
                Decision::RestartAfter(_)
            ));
        }
        assert_eq!(
            t.on_exit(start + ms(10), Persistence::Other),
            Decision::Failed {
                restarts: 5,
                retry: Some(Duration::from_secs(30))
            }
        );
        // Tried again after the retry delay, once the window has passed.
        let retry = start + Duration::from_secs(61);
        assert_eq!(
            t.on_exit(retry, Persistence::Other),
            Decision::RestartAfter(ms(100))
        );
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let policy = RestartPolicy {
            initial: Duration::from_secs(u64::MAX / 2),
            max: Duration::from_secs(5),
            max_per_window: 100,
            window: Duration::from_secs(60),
            failed_retry: Duration::from_secs(60),
        };
        let mut t = RestartTracker::new(policy);
        let now = Instant::now();
        for _ in 0..40 {
            assert_eq!(
                t.on_exit(now, Persistence::Boot),
                Decision::RestartAfter(Duration::from_secs(5))
            );
        }
    }
}
