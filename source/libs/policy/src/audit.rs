//! The audit trail: one JSON line per decision, and where lines go.
//!
//! Line format (keys in this order, one line, `\n`-terminated):
//! `{"time":<unix secs>,"subject":"…","capability":"…","target":"…","decision":"allow"|"deny","reason":"…"}`
//!
//! Invariants: a line never contains a raw newline (JSON escapes control
//! characters in every string), so one record is one line whatever the
//! target says; records carry ids only, never secrets; a sink either
//! stores the whole line or returns an error, which the engine turns into
//! a denial.

use nexus_core::{Coded, ErrorCode};
use std::sync::{Arc, Mutex};

/// One audit record, serialized as one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord<'a> {
    /// Seconds since the Unix epoch, from the engine's clock.
    pub time: u64,
    /// The caller, as established by its channel (`system:…`, `app:…`,
    /// `uid:…`).
    pub subject: &'a str,
    /// The capability's stable name.
    pub capability: &'a str,
    /// What is acted on, as named by the enforcement point (an id).
    pub target: &'a str,
    /// `allow` or `deny`.
    pub decision: &'a str,
    /// Why (see [`crate::Decision::reason`]).
    pub reason: &'a str,
}

impl AuditRecord<'_> {
    /// The record as one JSON line with its trailing `\n`.
    pub fn to_line(&self) -> Result<Vec<u8>, AuditError> {
        let mut line = serde_json::to_vec(self).map_err(|_| AuditError::Encode)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// Why an audit line could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The operating system refused the write, open or sync.
    #[error("audit I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Only part of the line was written.
    #[error("audit line only partly written")]
    ShortWrite,
    /// The record could not be serialized.
    #[error("audit record could not be encoded")]
    Encode,
    /// The sink's lock was poisoned by a panicking writer.
    #[error("audit sink lock poisoned")]
    Poisoned,
}

impl Coded for AuditError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}

/// Where audit lines go. `append` receives one complete line (ending in
/// `\n`) and must store all of it or return an error.
pub trait AuditSink: Send + Sync {
    /// Store one line.
    fn append(&self, line: &[u8]) -> Result<(), AuditError>;
}

/// An in-memory sink for tests and benches. Clones share one buffer, so a
/// test keeps a clone to inspect what the engine wrote.
#[derive(Debug, Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<String>>>);

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// Every line stored so far, each with its trailing `\n`.
    pub fn lines(&self) -> Result<Vec<String>, AuditError> {
        Ok(self.0.lock().map_err(|_| AuditError::Poisoned)?.clone())
    }

    /// Drop every stored line.
    pub fn clear(&self) -> Result<(), AuditError> {
        self.0.lock().map_err(|_| AuditError::Poisoned)?.clear();
        Ok(())
    }
}

impl AuditSink for MemorySink {
    fn append(&self, line: &[u8]) -> Result<(), AuditError> {
        let line = String::from_utf8(line.to_vec()).map_err(|_| AuditError::Encode)?;
        self.0.lock().map_err(|_| AuditError::Poisoned)?.push(line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_one_line_with_fixed_key_order() {
        let r = AuditRecord {
            time: 7,
            subject: "app:a",
            capability: "identity.key.sign",
            target: "evil\n{\"decision\":\"allow\"}\u{1b}[2J",
            decision: "deny",
            reason: "not_granted",
        };
        let line = String::from_utf8(r.to_line().unwrap()).unwrap();
        assert_eq!(
            line,
            "{\"time\":7,\"subject\":\"app:a\",\"capability\":\"identity.key.sign\",\
             \"target\":\"evil\\n{\\\"decision\\\":\\\"allow\\\"}\\u001b[2J\",\
             \"decision\":\"deny\",\"reason\":\"not_granted\"}\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn memory_sink_clones_share_lines() {
        let a = MemorySink::new();
        let b = a.clone();
        a.append(b"x\n").unwrap();
        assert_eq!(b.lines().unwrap(), vec!["x\n".to_string()]);
        b.clear().unwrap();
        assert!(a.lines().unwrap().is_empty());
    }

    #[test]
    fn test_reject_non_utf8_line_in_memory_sink() {
        let err = MemorySink::new().append(&[0xff, b'\n']).unwrap_err();
        assert!(matches!(err, AuditError::Encode));
        assert_eq!(err.code(), ErrorCode::Eio);
    }
}
