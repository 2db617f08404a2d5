//! Fail closed: a decision whose audit line cannot be stored is refused
//! with `Unavailable` (`EIO`), on the allow path as on the deny path.

use crate::common::{line, subject, MATRIX, NOW};
use nexus_core::{Authorizer, AuthzError, Capability, Coded, ErrorCode, ManualClock};
use policy::{AuditError, AuditSink, Durability, FileSink, MemorySink, Policy, PolicyEngine};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A sink that fails while `broken` is set and otherwise stores lines.
#[derive(Clone, Default)]
struct FlakySink {
    broken: Arc<AtomicBool>,
    inner: MemorySink,
}

impl AuditSink for FlakySink {
    fn append(&self, line: &[u8]) -> Result<(), AuditError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(AuditError::Io(std::io::Error::other("disk gone")));
        }
        self.inner.append(line)
    }
}

fn engine_with(sink: Box<dyn AuditSink>) -> PolicyEngine {
    PolicyEngine::new(
        Policy::from_toml_str(MATRIX).unwrap(),
        sink,
        Arc::new(ManualClock::new(NOW)),
    )
}

#[test]
fn test_reject_allow_when_audit_sink_fails() {
    let sink = FlakySink::default();
    sink.broken.store(true, Ordering::SeqCst);
    let engine = engine_with(Box::new(sink.clone()));
    let err = engine
        .authorize(
            &subject("app:com.example.granted"),
            Capability::KeySign,
            "k",
        )
        .unwrap_err();
    assert_eq!(err, AuthzError::Unavailable("audit sink failed"));
    assert_eq!(err.code(), ErrorCode::Eio);
    assert_eq!(engine.audit_failures(), 1);
    assert!(sink.inner.lines().unwrap().is_empty());
}

#[test]
fn test_reject_deny_reported_as_unavailable_when_audit_sink_fails() {
    let sink = FlakySink::default();
    sink.broken.store(true, Ordering::SeqCst);
    let engine = engine_with(Box::new(sink));
    let err = engine
        .authorize(&subject("app:com.example.empty"), Capability::KeySign, "k")
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    assert_eq!(engine.audit_failures(), 1);
}

#[test]
fn sink_recovery_resumes_service() {
    let sink = FlakySink::default();
    let engine = engine_with(Box::new(sink.clone()));
    let who = subject("app:com.example.granted");
    sink.broken.store(true, Ordering::SeqCst);
    assert!(engine.authorize(&who, Capability::KeySign, "k1").is_err());
    sink.broken.store(false, Ordering::SeqCst);
    engine.authorize(&who, Capability::KeySign, "k2").unwrap();
    assert_eq!(
        sink.inner.lines().unwrap(),
        vec![line(
            "app:com.example.granted",
            "identity.key.sign",
            "k2",
            "allow",
            "granted"
        )]
    );
    assert_eq!(engine.audit_failures(), 1);
}

#[test]
fn test_reject_when_audit_disk_is_full() {
    // A real file sink on /dev/full (every write fails with ENOSPC).
    let sink = FileSink::open(Path::new("/dev/full"), Durability::Buffered).unwrap();
    let engine = engine_with(Box::new(sink));
    let err = engine
        .authorize(
            &subject("system:granted"),
            Capability::TrustWrite,
            "root-kid",
        )
        .unwrap_err();
    assert!(matches!(err, AuthzError::Unavailable(_)));
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn file_sink_records_every_decision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let sink = FileSink::open(&path, Durability::Fsync).unwrap();
    let engine = engine_with(Box::new(sink));
    engine
        .authorize(&subject("system:granted"), Capability::TrustWrite, "ab12")
        .unwrap();
    let _ = engine.authorize(&subject("uid:1000"), Capability::VaultUse, "alice/notes");
    let want = line(
        "system:granted",
        "identity.trust.write",
        "ab12",
        "allow",
        "granted",
    ) + &line(
        "uid:1000",
        "identity.vault.use",
        "alice/notes",
        "deny",
        "unknown_subject",
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
}

#[test]
fn concurrent_decisions_never_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let engine = Arc::new(engine_with(Box::new(
        FileSink::open(&path, Durability::Buffered).unwrap(),
    )));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for i in 0..250 {
                    engine
                        .authorize(
                            &subject("app:com.example.granted"),
                            Capability::KeySeal,
                            &format!("t{t}-{i}"),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["decision"], "allow");
        assert_eq!(v["capability"], "identity.key.seal");
    }
}

#[test]
fn test_reject_non_system_work_at_the_state_disk_reserve_with_edquota() {
    let sink = MemorySink::new();
    let reached = Arc::new(AtomicBool::new(true));
    let gauge = Arc::clone(&reached);
    let engine = engine_with(Box::new(sink.clone()))
        .with_reserve(Arc::new(move || gauge.load(Ordering::SeqCst)));
    let app = subject("app:com.example.granted");
    let err = engine
        .authorize(&app, Capability::KeySign, "k")
        .unwrap_err();
    assert_eq!(err, AuthzError::Reserve);
    assert_eq!(err.code(), ErrorCode::Edquota);
    assert_eq!(err.to_string(), "state disk reserve reached");
    // The refusal is audited as a denial with its own reason.
    let lines = sink.lines().unwrap();
    assert!(
        lines[0].contains(r#""decision":"deny","reason":"state_reserve""#),
        "{lines:?}"
    );
    // A denial stays a denial (EPERM), not a reserve refusal.
    let none = subject("app:com.example.empty");
    assert_eq!(
        engine
            .authorize(&none, Capability::KeySign, "k")
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    // System subjects may use the reserve.
    engine
        .authorize(&subject("system:granted"), Capability::TrustWrite, "t")
        .unwrap();
    // Space freed: service resumes.
    reached.store(false, Ordering::SeqCst);
    engine.authorize(&app, Capability::KeySign, "k").unwrap();
}
