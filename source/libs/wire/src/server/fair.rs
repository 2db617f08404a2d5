//! A fair share of the handler threads: no subject runs more than its
//! share of requests at once; the rest of its requests wait, in arrival
//! order, for one of its own to finish.
//!
//! Invariants:
//! - At most `limit` requests of one subject execute at any moment.
//! - A parked request is run by the thread that finishes a request of the
//!   same subject, so a subject with parked requests always has one
//!   executing that will pick them up (no request is stranded), and
//!   parking never blocks a thread.
//! - Entries of subjects with nothing running and nothing parked are
//!   dropped, so the table holds only active subjects.

use nexus_core::Subject;
use std::collections::{HashMap, VecDeque};

#[derive(Debug)]
struct Load<T> {
    running: usize,
    parked: VecDeque<T>,
}

/// Requests running and parked, per subject. `T` is what the server needs
/// to run a parked request later.
#[derive(Debug)]
pub(crate) struct Fairness<T> {
    limit: usize,
    subjects: HashMap<Subject, Load<T>>,
}

impl<T> Fairness<T> {
    /// At most `limit` (at least 1) running requests per subject.
    pub(crate) fn new(limit: usize) -> Self {
        Fairness {
            limit: limit.max(1),
            subjects: HashMap::new(),
        }
    }

    /// A request of `subject` is ready: `Some(job)` to run it now (it
    /// counts as running), `None` if it was parked.
    pub(crate) fn start(&mut self, subject: &Subject, job: T) -> Option<T> {
        let load = self.subjects.entry(subject.clone()).or_insert(Load {
            running: 0,
            parked: VecDeque::new(),
        });
        if load.running < self.limit {
            load.running += 1;
            Some(job)
        } else {
            load.parked.push_back(job);
            None
        }
    }

    /// A request of `subject` finished: the next parked one to run in its
    /// place (still counted as running), if any.
    pub(crate) fn finish(&mut self, subject: &Subject) -> Option<T> {
        let load = self.subjects.get_mut(subject)?;
        if let Some(next) = load.parked.pop_front() {
            return Some(next);
        }
        load.running = load.running.saturating_sub(1);
        if load.running == 0 {
            self.subjects.remove(subject);
        }
        None
    }

    /// Requests of `subject` running now.
    #[cfg(test)]
    pub(crate) fn running(&self, subject: &Subject) -> usize {
        self.subjects.get(subject).map_or(0, |l| l.running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_over_its_share_waits_for_its_own_requests() {
        let (a, b): (Subject, Subject) = ("uid:1".parse().unwrap(), "uid:2".parse().unwrap());
        let mut f = Fairness::new(2);
        assert_eq!(f.start(&a, 1), Some(1));
        assert_eq!(f.start(&a, 2), Some(2));
        assert_eq!(f.start(&a, 3), None);
        assert_eq!(f.start(&a, 4), None);
        // Another subject is not held up.
        assert_eq!(f.start(&b, 10), Some(10));
        assert_eq!(f.running(&a), 2);
        // Finishing hands over the parked ones in order.
        assert_eq!(f.finish(&a), Some(3));
        assert_eq!(f.finish(&a), Some(4));
        assert_eq!(f.running(&a), 2);
        assert_eq!(f.finish(&a), None);
        assert_eq!(f.finish(&a), None);
        assert_eq!(f.running(&a), 0);
        assert!(!f.subjects.contains_key(&a), "idle subjects are dropped");
        assert_eq!(f.finish(&b), None);
        assert!(f.subjects.is_empty());
    }
}
