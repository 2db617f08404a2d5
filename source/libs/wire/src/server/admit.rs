//! Who may open one more public connection: caps per subject and in total,
//! with a reserve for subjects that hold few connections.
//!
//! Invariants (with `total`, `per_subject`, `reserve`, `share` from
//! [`Caps`]):
//! - No subject holds more than `per_subject` public connections, and all
//!   subjects together hold at most `total`.
//! - The last `reserve` slots of `total` go only to subjects that hold
//!   fewer than `share` connections, so one subject (or a few) at their
//!   cap cannot lock out a subject that has almost none: a newcomer is
//!   refused only when `reserve / share` other small subjects fill the
//!   reserve too.
//! - [`Caps::check`] refuses a configuration in which one subject at its
//!   cap could reach into the reserve (`per_subject + reserve > total`).
//! - Endpoints handed over by the supervisor never pass through here: the
//!   manifest bounds them.

use nexus_core::Subject;
use std::collections::HashMap;

/// The connection caps of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) total: usize,
    pub(crate) per_subject: usize,
    pub(crate) reserve: usize,
    pub(crate) share: usize,
}

impl Caps {
    /// Whether the caps keep the reserve out of one subject's reach.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.per_subject == 0 || self.total == 0 {
            return Err("connection caps must be at least 1");
        }
        if self.per_subject.saturating_add(self.reserve) > self.total {
            return Err(
                "max_connections_per_subject + reserved_connections must not exceed max_connections",
            );
        }
        Ok(())
    }
}

/// Why a connection was refused (each is answered `EBUSY`, id 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot is taken (the reserve included, or the subject is not
    /// small enough to use it).
    Total,
    /// The subject holds its cap.
    Subject,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Total => "too many connections",
            Refusal::Subject => "too many connections from this subject",
        }
    }
}

/// The public connections held now, by subject.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    total: usize,
    by_subject: HashMap<Subject, usize>,
}

impl Admission {
    /// Admit one more connection of `subject`, or say why not.
    pub(crate) fn admit(&mut self, caps: &Caps, subject: &Subject) -> Result<(), Refusal> {
        let held = self.by_subject.get(subject).copied().unwrap_or(0);
        if held >= caps.per_subject {
            return Err(Refusal::Subject);
        }
        let open = caps.total.saturating_sub(caps.reserve);
        let fits = self.total < open || (self.total < caps.total && held < caps.share);
        if !fits {
            return Err(Refusal::Total);
        }
        self.total += 1;
        *self.by_subject.entry(subject.clone()).or_insert(0) += 1;
        Ok(())
    }

    /// One connection of `subject` ended.
    pub(crate) fn release(&mut self, subject: &Subject) {
        if let Some(n) = self.by_subject.get_mut(subject) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.by_subject.remove(subject);
            }
        }
    }

    /// Public connections held now.
    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: &str) -> Subject {
        n.parse().unwrap()
    }

    const CAPS: Caps = Caps {
        total: 12,
        per_subject: 6,
        reserve: 4,
        share: 2,
    };

    #[test]
    fn one_subject_at_its_cap_leaves_room_for_others() {
        CAPS.check().unwrap();
        let mut a = Admission::default();
        let hog = s("uid:1000");
        for _ in 0..6 {
            a.admit(&CAPS, &hog).unwrap();
        }
        assert_eq!(a.admit(&CAPS, &hog), Err(Refusal::Subject));
        // A second large subject fills the open part, not the reserve.
        let big = s("uid:1001");
        a.admit(&CAPS, &big).unwrap();
        a.admit(&CAPS, &big).unwrap();
        assert_eq!(a.admit(&CAPS, &big), Err(Refusal::Total));
        // Small subjects still get in, up to their share, while the
        // reserve lasts.
        for n in ["uid:1", "uid:2"] {
            a.admit(&CAPS, &s(n)).unwrap();
            a.admit(&CAPS, &s(n)).unwrap();
            assert_eq!(a.admit(&CAPS, &s(n)), Err(Refusal::Total));
        }
        assert_eq!(a.total(), 12);
        assert_eq!(a.admit(&CAPS, &s("uid:3")), Err(Refusal::Total));
        a.release(&hog);
        a.admit(&CAPS, &s("uid:3")).unwrap();
        for _ in 0..5 {
            a.release(&hog);
        }
        a.release(&hog); // more releases than admissions change nothing
        assert_eq!(a.total(), 7);
    }

    #[test]
    fn test_reject_caps_that_let_one_subject_into_the_reserve() {
        let bad = Caps {
            per_subject: 9,
            ..CAPS
        };
        assert!(bad.check().is_err());
        assert!(Caps {
            per_subject: 0,
            ..CAPS
        }
        .check()
        .is_err());
    }
}
