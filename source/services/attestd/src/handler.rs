//! The wire face of attestd: the ops of docs/architecture/services.md
//! (`attest`, `attest.device_key`, `attest.rotate_device_key`, `status`),
//! parsed at this edge into the typed calls of [`Attestd`].
//!
//! Invariants:
//! - The caller is `ctx.subject()`, fixed by the server from the channel;
//!   no argument names the caller or the app id of a token. An argument
//!   an op does not take is `EINVAL`.
//! - `attest: ok app=<appId> key=<kid>` is emitted once per token, after
//!   it was signed and its signature checked, and never otherwise.

use crate::service::{Attestd, KeyRef};
use nexus_core::AppId;
use nexus_proto::{
    self as proto, Attest, AttestArgs, AttestDeviceKey, AttestReply, AttestRotateDeviceKey, Bytes,
    DeviceKeyReply, Op, Status, StatusReply,
};
use std::sync::Arc;
use wire::{CallContext, Handler, Request, Value, WireError};

/// The `service` field of `status`.
pub const SERVICE: &str = "attestd";

/// Where marker lines go (stdout in the daemon).
pub type MarkerFn = Box<dyn Fn(&str) + Send + Sync>;

/// Answers attestd's ops.
pub struct AttestdHandler {
    svc: Arc<Attestd>,
    marker: MarkerFn,
}

impl std::fmt::Debug for AttestdHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestdHandler")
            .field("svc", &self.svc)
            .finish_non_exhaustive()
    }
}

/// The `attest: ok …` marker for one signed token.
pub fn attest_marker(app: &AppId, attested_kid: &keymint::kid::Kid) -> String {
    format!("attest: ok app={app} key={attested_kid}")
}

fn device_key_reply(k: &crate::DeviceKey) -> DeviceKeyReply {
    DeviceKeyReply {
        public_key: Bytes(k.public.as_bytes().to_vec()),
        kid: k.kid,
        version: k.version,
    }
}

impl AttestdHandler {
    /// A handler over `svc`, emitting markers with `marker`.
    pub fn new(svc: Arc<Attestd>, marker: MarkerFn) -> Self {
        AttestdHandler { svc, marker }
    }

    /// `attest`. Custom claims were checked against the profile's bounds
    /// (labels ≤ -65538, at most 16, values ≤ 256 bytes) when the
    /// arguments were decoded.
    fn attest(&self, ctx: &CallContext, a: AttestArgs) -> Result<AttestReply, WireError> {
        let key = KeyRef {
            app: a.app,
            purpose: a.purpose,
            name: a.name,
        };
        let claims = a.claims.unwrap_or_default();
        let t = self.svc.attest(ctx.subject(), &key, &a.nonce, claims)?;
        (self.marker)(&attest_marker(&t.app, &t.attested_kid));
        Ok(AttestReply {
            token: Bytes(t.token),
            device_kid: t.device_kid,
        })
    }
}

impl Handler for AttestdHandler {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        match req.op() {
            Attest::NAME => proto::serve::<Attest>(req, |a| self.attest(ctx, a)),
            AttestDeviceKey::NAME => proto::serve::<AttestDeviceKey>(req, |_| {
                Ok(device_key_reply(&self.svc.device_key()?))
            }),
            AttestRotateDeviceKey::NAME => proto::serve::<AttestRotateDeviceKey>(req, |_| {
                Ok(device_key_reply(
                    &self.svc.rotate_device_key(ctx.subject())?,
                ))
            }),
            Status::NAME => proto::serve::<Status>(req, |_| {
                let s = self.svc.status();
                Ok(StatusReply {
                    service: SERVICE.to_owned(),
                    volatile: s.volatile,
                    insecure: s.insecure,
                    version: crate::SWVERSION.to_owned(),
                    damaged: None,
                })
            }),
            other => Err(WireError::unknown_op(other)),
        }
    }
}
