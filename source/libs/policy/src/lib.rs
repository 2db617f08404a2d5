//! The policy engine of the identity subsystem: who may do what.
//!
//! One policy file ([`Policy`], TOML, `version = 1`) maps subjects to
//! capabilities, local uids to subjects, and subjects to storage quotas.
//! One evaluator ([`PolicyEngine`]) implements [`nexus_core::Authorizer`]
//! for every enforcement point and writes every decision, allow and deny,
//! to an audit sink ([`AuditSink`]) as one JSON line.
//!
//! Invariants:
//! - Deny by default: a subject or capability the file does not name is
//!   denied. The file has no wildcards.
//! - A loaded [`Policy`] never grants a system-only capability
//!   ([`nexus_core::Capability::is_system_only`]) to a non-system subject;
//!   such a file is refused at load.
//! - Unknown versions, keys, capabilities and malformed subjects are load
//!   errors, never ignored.
//! - A decision that cannot be written to the audit sink is a denial
//!   ([`nexus_core::AuthzError::Unavailable`], `EIO`): fail closed.

#![forbid(unsafe_code)]

mod audit;
mod engine;
mod error;
mod file;
mod file_sink;
mod policy;

pub use audit::{AuditError, AuditRecord, AuditSink, MemorySink};
pub use engine::{PolicyEngine, ReserveGauge};
pub use error::PolicyError;
pub use file::{MAX_POLICY_LEN, POLICY_VERSION};
pub use file_sink::{Durability, FileSink};
pub use policy::{
    unmapped_uid_message, Decision, Policy, DEFAULT_KEYSTORE_QUOTA, DEFAULT_VAULT_QUOTA,
};
