//! keystored's request handler: routes each op to its family (`key.*`,
//! `vault.*`, `trust.*`) and answers `status` and `device.info`.
//!
//! Invariants: the subject is the channel's ([`CallContext::subject`]);
//! an unknown op is `EINVAL` "unknown op: NAME" and leaves the connection
//! open; every refusal the handler decides itself (rather than the policy
//! engine) is written to the audit log before the reply.

use crate::vault_ops::VaultOps;
use keymint::KeyOps;
use keymint_client::RemoteKeyMint;
use keystore::KeyStore;
use nexus_core::{Clock, ErrorCode, Subject};
use nexus_daemon::AuditLog;
use nexus_proto::{self as proto, Bytes, DeviceInfo, DeviceInfoReply, Op, Status, StatusReply};
use policy::PolicyEngine;
use std::sync::Arc;
use trust::TrustStore;
use wire::{CallContext, Handler, Request, Value, WireError};

/// keystored's service state.
pub struct Keystored {
    pub(crate) keys: KeyStore,
    pub(crate) vault: VaultOps,
    pub(crate) trust: TrustStore,
    pub(crate) km: Arc<RemoteKeyMint>,
    pub(crate) policy: Arc<PolicyEngine>,
    pub(crate) audit: AuditLog,
    pub(crate) status: StatusReply,
    pub(crate) volatile: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Keystored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystored")
            .field("keys", &self.keys)
            .field("volatile", &self.volatile)
            .finish_non_exhaustive()
    }
}

impl Keystored {
    /// Record a decision the handler made itself. A record that cannot be
    /// written fails the request (`EIO`): nothing is decided unaudited.
    pub(crate) fn record(
        &self,
        subject: &Subject,
        op: &str,
        target: &str,
        allowed: bool,
        reason: &str,
    ) -> Result<(), WireError> {
        self.audit
            .record(subject, op, target, allowed, reason)
            .map_err(|e| {
                eprintln!("keystored: audit record failed: {e}");
                WireError::new(
                    ErrorCode::Eio,
                    "authorization unavailable: audit sink failed",
                )
            })
    }

    fn device_info(&self, s: &Subject) -> Result<DeviceInfoReply, WireError> {
        if !s.is_system() {
            self.record(s, "device.info", "device", false, "system_only")?;
            return Err(WireError::new(
                ErrorCode::Eperm,
                "device.info is for system subjects only",
            ));
        }
        self.record(s, "device.info", "device", true, "system")?;
        Ok(DeviceInfoReply {
            device_id: Bytes(self.km.device_id().to_vec()),
            insecure: self.km.is_insecure(),
            volatile: self.volatile,
        })
    }
}

impl Handler for Keystored {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        let s = ctx.subject();
        match req.op() {
            Status::NAME => proto::serve::<Status>(req, |_| Ok(self.status.clone())),
            DeviceInfo::NAME => proto::serve::<DeviceInfo>(req, |_| self.device_info(s)),
            op if op.starts_with("key.") => self.key_op(s, req),
            op if op.starts_with("vault.") => self.vault.handle(s, req),
            op if op.starts_with("trust.") => self.trust_op(s, req),
            op => Err(WireError::unknown_op(op)),
        }
    }
}
