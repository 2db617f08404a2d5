//! `nx audit …`: the audit logs of a state directory, read offline.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Where the logs are.
#[derive(Debug, Args)]
pub struct AuditScope {
    /// The state directory whose `audit/` holds the logs.
    #[arg(long, value_name = "DIR", default_value = "./state")]
    pub state: PathBuf,
    /// Only this service's log (default: every service's).
    #[arg(long, value_name = "SVC")]
    pub service: Option<String>,
}

/// `nx audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check every log's hash chain (and that it reaches the chain head its
    /// state root checkpointed); report the first broken line. Exits 19
    /// (EIO) if a chain is broken.
    #[command(
        after_help = "Example:\n  nx audit verify --state /state\n  nx audit verify --service keystored --json"
    )]
    Verify {
        #[command(flatten)]
        scope: AuditScope,
    },
    /// Print the lines that match every filter given, oldest first.
    #[command(after_help = "Examples:\n  nx audit show --decision deny\n  \
nx audit show --subject app:com.example.alpha --op identity.key.sign --since 1700000000\n  \
nx audit show --service keystored --follow")]
    Show {
        #[command(flatten)]
        scope: AuditScope,
        /// Only lines of this subject (`app:…`, `system:…`, `uid:…`).
        #[arg(long, value_name = "SUBJECT")]
        subject: Option<String>,
        /// Only this op: a capability (`identity.key.sign`), an op name
        /// (`km.sign`), or `state.write`, `state.delete`, `state.commit`…
        #[arg(long, value_name = "OP")]
        op: Option<String>,
        /// Only `allow` or `deny` decisions.
        #[arg(long, value_name = "DECISION", value_parser = ["allow", "deny"])]
        decision: Option<String>,
        /// Only lines at or after this time (Unix seconds).
        #[arg(long, value_name = "SECS")]
        since: Option<u64>,
        /// Only lines before this time (Unix seconds).
        #[arg(long, value_name = "SECS")]
        until: Option<u64>,
        /// After the lines so far, keep printing new ones as they are
        /// written (across rotations) until interrupted.
        #[arg(long)]
        follow: bool,
    },
}
