//! Why a daemon could not start or keep serving. Every variant is fatal:
//! the daemon prints it on stderr and exits non-zero, never falling back
//! to a weaker mode (no policy → no service, never "allow all").

use crate::upstreams::UpstreamError;
use nexus_core::{Coded, ErrorCode};
use std::io;
use std::path::PathBuf;

/// A fatal daemon error. Messages name paths and services, never contents.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The policy file is missing, unreadable or invalid.
    #[error("cannot load the policy {}: {source}", path.display())]
    Policy {
        /// The `--policy` path.
        path: PathBuf,
        /// Why.
        #[source]
        source: policy::PolicyError,
    },
    /// The state directory could not be opened.
    #[error("cannot open the state directory: {0}")]
    State(#[from] statefs::StateError),
    /// A directory the daemon needs could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The audit log could not be opened.
    #[error("cannot open the audit log in {}: {source}", path.display())]
    Audit {
        /// The log's directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: auditlog::AuditError,
    },
    /// The state root could not be attached (an I/O failure; a damaged
    /// root is reported, not fatal), or none was attached in durable mode.
    #[error("cannot attach the state root: {0}")]
    StateRoot(statefs::StateError),
    /// The wire server could not serve its socket or an endpoint.
    #[error("cannot serve: {0}")]
    Serve(#[from] wire::ServerError),
    /// A thread, the control channel or the signal handlers could not be
    /// set up.
    #[error("cannot start {what}: {source}")]
    Setup {
        /// What was being started.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A required upstream service never answered `status`.
    #[error("upstream {service} is not answering: {source}")]
    Upstream {
        /// The service.
        service: &'static str,
        /// Why.
        #[source]
        source: UpstreamError,
    },
    /// The ready marker could not be written.
    #[error("cannot write the ready marker: {0}")]
    Marker(io::Error),
    /// The service's own setup failed.
    #[error("{0}")]
    Service(Box<dyn std::error::Error + Send + Sync>),
}

impl Coded for DaemonError {
    fn code(&self) -> ErrorCode {
        match self {
            DaemonError::Policy { source, .. } => source.code(),
            DaemonError::State(e) | DaemonError::StateRoot(e) => e.code(),
            DaemonError::Serve(e) => e.code(),
            DaemonError::Upstream { source, .. } => source.code(),
            DaemonError::Dir { .. }
            | DaemonError::Audit { .. }
            | DaemonError::Setup { .. }
            | DaemonError::Marker(_)
            | DaemonError::Service(_) => ErrorCode::Eio,
        }
    }
}
