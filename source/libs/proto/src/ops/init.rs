//! nexus-init's own op on `<run>/init.sock`: the supervisor's view of
//! every service it runs. Read-only; nothing secret is told.

use super::status::Empty;
use crate::schema::{ops, wire_map};

wire_map!(reply
    /// One service as the supervisor sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    UnitInfo {
        /// The manifest's name for it.
        name: String,
        /// `"daemon"` or `"app"`.
        kind: String,
        /// Whether it is a core daemon (never given up after boot).
        core: bool,
        /// `"idle"`, `"starting"`, `"up"`, `"restarting"`, `"failed"` or
        /// `"stopped"`.
        state: String,
        /// Restarts since init started.
        restarts: u64,
        /// How it last ended (`"exit N"`, `"signal N"`, `"unknown"`).
        last_exit: Option<String>,
        /// Its process id while it runs.
        pid: Option<u64>,
    }
);

ops! {
    /// `init.status`: every service nexus-init runs, and whether the
    /// stack is ready.
    InitStatus = "init.status" in NexusInit, capability none, callers [];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            InitStatusReply {
                /// Every daemon came up at boot.
                ready: bool,
                /// Each service, in manifest order.
                services: Vec<UnitInfo>,
            }
        ]
}
