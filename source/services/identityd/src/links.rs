//! identityd's two links out of its own process besides keymint: the
//! audit log its password checks are written to before they take effect
//! ([`Audit`]), and keystored's `vault.purge` for user deletion
//! ([`KeystoredPurge`]).
//!
//! Invariants: a decision that cannot be written is an error (the check
//! is refused); a purge that cannot reach keystored is `EAGAIN` "keystored
//! is unavailable; try again" at once (the deletion stays pending), never
//! a wait and never success.

use identity::{DecisionLog, IdentityError, VaultPurge};
use nexus_core::{Coded, ErrorCode, InstanceId, Subject, UserId};
use nexus_daemon::{AuditLog, UpstreamError, Upstreams};
use nexus_proto::{self as proto, Op, VaultPurgeArgs};

/// The endpoint name of keystored on identityd's control channel.
pub const KEYSTORED: &str = "keystored";

/// identity's decisions into the daemon's audit log.
#[derive(Debug, Clone)]
pub struct Audit(pub AuditLog);

impl DecisionLog for Audit {
    fn record(
        &self,
        caller: &Subject,
        op: &str,
        target: &str,
        allowed: bool,
        reason: &str,
    ) -> Result<(), IdentityError> {
        self.0
            .record(caller, op, target, allowed, reason)
            .map_err(|e| {
                eprintln!("identityd: audit record failed: {e}");
                IdentityError::Audit
            })
    }
}

/// keystored's `vault.purge`, over the upstream nexus-init handed over.
#[derive(Debug, Clone)]
pub struct KeystoredPurge {
    upstreams: Upstreams,
}

impl KeystoredPurge {
    /// Purge through `upstreams`' keystored endpoint.
    pub fn new(upstreams: Upstreams) -> KeystoredPurge {
        KeystoredPurge { upstreams }
    }
}

fn unavailable() -> IdentityError {
    IdentityError::Purge {
        code: ErrorCode::Eagain,
        msg: "keystored is unavailable; try again".into(),
    }
}

impl VaultPurge for KeystoredPurge {
    fn purge(
        &self,
        instance: InstanceId,
        legacy_user: Option<&UserId>,
    ) -> Result<(), IdentityError> {
        // No usable connection (keystored died or restarts): say so at
        // once instead of waiting for a new endpoint.
        if !self.upstreams.is_connected(KEYSTORED) {
            return Err(unavailable());
        }
        let args = proto::encode_args::<proto::VaultPurge>(&VaultPurgeArgs {
            instance,
            legacy_user: legacy_user.cloned(),
        })
        .map_err(|e| IdentityError::Purge {
            code: e.code(),
            msg: e.to_string(),
        })?;
        // Sent once: a lost connection is reported, and the deletion is
        // simply run again (purging is idempotent).
        match self
            .upstreams
            .call(KEYSTORED, proto::VaultPurge::NAME, &args)
        {
            Ok(_) => Ok(()),
            Err(UpstreamError::Remote { code, msg, .. }) => Err(IdentityError::Purge { code, msg }),
            Err(e) => {
                eprintln!("identityd: vault.purge: {e}");
                Err(unavailable())
            }
        }
    }
}
