//! Shared fixtures for the integration tests: one policy in which every
//! capability is held by someone and lacked by someone else.

use nexus_core::{ManualClock, Subject};
use policy::{MemorySink, Policy, PolicyEngine};
use std::sync::Arc;

/// Fixed time written in every audit line of these tests.
pub const NOW: u64 = 1_700_000_000;

/// `system:granted` holds every capability; `app:com.example.granted` every
/// one an app may hold; `system:empty` and `app:com.example.empty` none.
pub const MATRIX: &str = r#"
version = 1

[[subjects]]
subject = "system:granted"
capabilities = [
  "identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.sign", "identity.key.seal", "identity.key.decrypt",
  "identity.key.export", "identity.key.delete", "identity.key.import", "identity.attest",
  "identity.trust.write", "identity.vault.use", "identity.user.admin",
  "identity.bundle.install", "identity.update.stage", "identity.artifact.force",
]

[[subjects]]
subject = "app:com.example.granted"
capabilities = [
  "identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.sign", "identity.key.seal", "identity.key.decrypt",
  "identity.key.export", "identity.key.delete", "identity.key.import", "identity.attest",
  "identity.vault.use", "identity.bundle.install",
]

[[subjects]]
subject = "system:empty"
capabilities = []

[[subjects]]
subject = "app:com.example.empty"
capabilities = []
"#;

pub fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

/// An engine over [`MATRIX`] and the sink it writes to.
pub fn engine() -> (PolicyEngine, MemorySink) {
    let sink = MemorySink::new();
    let engine = PolicyEngine::new(
        Policy::from_toml_str(MATRIX).unwrap(),
        Box::new(sink.clone()),
        Arc::new(ManualClock::new(NOW)),
    );
    (engine, sink)
}

/// The exact line the engine must write, built by hand rather than by the
/// code under test.
pub fn line(subject: &str, capability: &str, target: &str, decision: &str, reason: &str) -> String {
    format!(
        "{{\"time\":{NOW},\"subject\":\"{subject}\",\"capability\":\"{capability}\",\
         \"target\":\"{target}\",\"decision\":\"{decision}\",\"reason\":\"{reason}\"}}\n"
    )
}
