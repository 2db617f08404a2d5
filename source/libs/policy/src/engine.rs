//! The evaluator every enforcement point calls: decide, audit, answer.
//!
//! Invariants:
//! - Every call writes exactly one audit line before it returns, whatever
//!   the decision.
//! - Fail closed: if the line cannot be encoded or stored, the answer is
//!   [`AuthzError::Unavailable`] (`EIO`), for an allow as much as for a
//!   deny; the operation does not run unaudited. The engine does not latch
//!   the failure: the next call tries the sink again, so a sink that
//!   recovers (space freed) resumes service. Failures are counted
//!   ([`PolicyEngine::audit_failures`]) so the daemon can report them.
//! - With a reserve gauge ([`PolicyEngine::with_reserve`]): while the
//!   state disk is down to its reserve, what the policy allows a
//!   non-system subject is refused with [`AuthzError::Reserve`]
//!   (`EDQUOTA`, "state disk reserve reached"), audited as a denial with
//!   reason `state_reserve`; system subjects may use the reserve.

use crate::audit::{AuditRecord, AuditSink};
use crate::policy::Policy;
use nexus_core::{Authorizer, AuthzError, Capability, Clock, Subject};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Whether the state disk is down to its reserve.
pub type ReserveGauge = Arc<dyn Fn() -> bool + Send + Sync>;

/// A loaded policy, an audit sink and a clock: the one
/// [`nexus_core::Authorizer`] of the system.
pub struct PolicyEngine {
    policy: Policy,
    sink: Box<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    audit_failures: AtomicU64,
    reserve: Option<ReserveGauge>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policy", &self.policy)
            .field("audit_failures", &self.audit_failures)
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// An engine over `policy`, auditing to `sink`, timestamping with
    /// `clock`.
    pub fn new(policy: Policy, sink: Box<dyn AuditSink>, clock: Arc<dyn Clock>) -> Self {
        PolicyEngine {
            policy,
            sink,
            clock,
            audit_failures: AtomicU64::new(0),
            reserve: None,
        }
    }

    /// Refuse non-system work while `reached` says the state disk is down
    /// to its reserve.
    pub fn with_reserve(mut self, reached: ReserveGauge) -> Self {
        self.reserve = Some(reached);
        self
    }

    /// The loaded policy (uid mapping, quotas).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How many decisions were refused because their audit line could not
    /// be written, since the engine was built.
    pub fn audit_failures(&self) -> u64 {
        self.audit_failures.load(Ordering::Relaxed)
    }

    fn unavailable(&self) -> AuthzError {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
        AuthzError::Unavailable("audit sink failed")
    }
}

impl Authorizer for PolicyEngine {
    fn authorize(
        &self,
        subject: &Subject,
        capability: Capability,
        target: &str,
    ) -> Result<(), AuthzError> {
        let decision = self.policy.decide(subject, capability);
        let reserve = decision.is_allow()
            && !subject.is_system()
            && self.reserve.as_ref().is_some_and(|reached| reached());
        let subject_name = subject.to_string();
        let record = AuditRecord {
            time: self.clock.now_unix(),
            subject: &subject_name,
            capability: capability.as_str(),
            target,
            decision: if reserve { "deny" } else { decision.verdict() },
            reason: if reserve {
                "state_reserve"
            } else {
                decision.reason()
            },
        };
        let line = record.to_line().map_err(|_| self.unavailable())?;
        self.sink.append(&line).map_err(|_| self.unavailable())?;
        if reserve {
            return Err(AuthzError::Reserve);
        }
        if decision.is_allow() {
            Ok(())
        } else {
            Err(AuthzError::Denied {
                subject: subject_name,
                capability,
            })
        }
    }
}
