//! Reporting damaged records: how a library tells its daemon which
//! persisted records it found unusable, so the daemon can say so on the
//! console and in its `status` reply while it keeps serving everything
//! that does not need them.
//!
//! Invariant: a report names records by their `state:/…` (or `pkg://…`)
//! path and says what is wrong in words about structure; it never
//! carries a record's contents.

use std::fmt;

/// One damaged record: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DamagedRecord {
    /// `state:/…` or `pkg://…`.
    pub path: String,
    /// What is wrong (no contents).
    pub reason: String,
}

impl DamagedRecord {
    /// A damaged record at `path`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        DamagedRecord {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Where damaged records are reported. Each reporter owns a `scope` (a
/// name of its choosing, e.g. `trust` or `bundle:com.example.app`) and
/// says, whenever it has looked, exactly which of its records are
/// damaged now; records it no longer lists are readable again.
pub trait DamageSink: Send + Sync {
    /// The damaged records of `scope` are exactly `records` now.
    fn set_damaged(&self, scope: &str, records: &[DamagedRecord]);
}

/// A sink that keeps nothing (libraries used outside a daemon, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreDamage;

impl DamageSink for IgnoreDamage {
    fn set_damaged(&self, _scope: &str, _records: &[DamagedRecord]) {}
}
