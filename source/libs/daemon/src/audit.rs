//! The daemon's audit log: the policy engine's file sink, shared so that a
//! daemon can also record decisions it makes outside the capability matrix
//! (keymintd's fixed caller table).
//!
//! Invariants: one log per daemon (`<state>/audit/<svc>.jsonl` and its
//! rotated files, or `<run>/audit/…` in volatile mode) in a directory
//! created 0700; it is an [`auditlog::Journal`]: hash-chained lines, one
//! `write(2)` each (so a decision's line is written before the decision
//! takes effect), made durable by group commit (or per line with
//! `--audit-flush sync`); the state root's lines go to the same log.
//! Records carry ids only, never argument values.

use nexus_core::{Clock, Subject};
use policy::{AuditError, AuditRecord, AuditSink};
use std::sync::Arc;

/// One sink shared by the policy engine and the daemon.
pub(crate) struct SharedSink(pub(crate) Arc<dyn AuditSink>);

impl AuditSink for SharedSink {
    fn append(&self, line: &[u8]) -> Result<(), AuditError> {
        self.0.append(line)
    }
}

/// The daemon's journal as the policy crate's sink: each decision line is
/// chained and written (and in `sync` mode synced) before it returns.
pub(crate) struct JournalSink(pub(crate) auditlog::Journal);

impl AuditSink for JournalSink {
    fn append(&self, line: &[u8]) -> Result<(), AuditError> {
        match self.0.append(line) {
            Ok(_) => Ok(()),
            Err(e) => Err(AuditError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Writes the daemon's own audit records.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// A log over `sink`, timestamped by `clock`.
    pub fn new(sink: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) -> AuditLog {
        AuditLog { sink, clock }
    }

    /// Record one decision: `subject` asked for `action` (an op name) on
    /// `target` (an id), `allowed` or not, for `reason` (a stable word).
    pub fn record(
        &self,
        subject: &Subject,
        action: &str,
        target: &str,
        allowed: bool,
        reason: &str,
    ) -> Result<(), AuditError> {
        let subject = subject.to_string();
        let line = AuditRecord {
            time: self.clock.now_unix(),
            subject: &subject,
            capability: action,
            target,
            decision: if allowed { "allow" } else { "deny" },
            reason,
        }
        .to_line()?;
        self.sink.append(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::ManualClock;
    use policy::MemorySink;

    #[test]
    fn records_one_json_line_per_decision() {
        let sink = MemorySink::new();
        let log = AuditLog::new(Arc::new(sink.clone()), Arc::new(ManualClock::new(42)));
        let app: Subject = "app:com.example.alpha".parse().unwrap();
        log.record(&app, "km.sign", "keymintd", false, "not_a_caller")
            .unwrap();
        assert_eq!(
            sink.lines().unwrap(),
            [concat!(
                r#"{"time":42,"subject":"app:com.example.alpha","capability":"km.sign","#,
                r#""target":"keymintd","decision":"deny","reason":"not_a_caller"}"#,
                "\n"
            )]
        );
    }
}
