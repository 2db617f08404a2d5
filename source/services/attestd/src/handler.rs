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

use crate::error::AttestError;
use crate::service::{Attestd, KeyRef};
use eat::{CustomClaims, CustomValue};
use nexus_core::{AppId, Label};
use std::sync::Arc;
use wire::{ArgError, Args, CallContext, Handler, Request, Value, WireError};

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

/// Read the optional `claims` map: integer labels ≤ -65538 to an integer,
/// boolean, text or byte string, within `eat`'s bounds.
fn custom_claims(args: &Args) -> Result<CustomClaims, WireError> {
    let mut out = CustomClaims::new();
    let Some(v) = args.get("claims") else {
        return Ok(out);
    };
    let Value::Map(entries) = v else {
        return Err(ArgError::WrongType {
            name: "claims".into(),
            expected: "a map",
        }
        .into());
    };
    let invalid = || WireError::from(ArgError::Invalid("claims".into()));
    if entries.len() > eat::MAX_CUSTOM_CLAIMS {
        return Err(invalid());
    }
    for (k, v) in entries {
        let label = k
            .as_integer()
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(invalid)?;
        let value = match v {
            Value::Integer(i) => CustomValue::Int(i64::try_from(*i).map_err(|_| invalid())?),
            Value::Bool(b) => CustomValue::Bool(*b),
            Value::Text(t) => CustomValue::Text(t.clone()),
            Value::Bytes(b) => CustomValue::Bytes(b.clone()),
            _ => return Err(invalid()),
        };
        // Out-of-range labels, duplicates and oversized values: EINVAL.
        out.insert(label, value).map_err(AttestError::from)?;
    }
    Ok(out)
}

fn device_key_reply(k: &crate::DeviceKey) -> Value {
    Args::new()
        .with("public_key", k.public.as_bytes().as_slice())
        .with("kid", k.kid.to_hex())
        .with("version", u64::from(k.version))
        .into_value()
}

impl AttestdHandler {
    /// A handler over `svc`, emitting markers with `marker`.
    pub fn new(svc: Arc<Attestd>, marker: MarkerFn) -> Self {
        AttestdHandler { svc, marker }
    }

    fn attest(&self, ctx: &CallContext, args: &Args) -> Result<Value, WireError> {
        args.only(&["purpose", "name", "nonce", "claims", "app"])?;
        let key = KeyRef {
            app: args.opt_parse::<AppId>("app")?,
            purpose: args.parse::<Label>("purpose")?,
            name: args.parse::<Label>("name")?,
        };
        let nonce = args.bytes("nonce")?;
        let claims = custom_claims(args)?;
        let a = self.svc.attest(ctx.subject(), &key, nonce, claims)?;
        (self.marker)(&attest_marker(&a.app, &a.attested_kid));
        Ok(Args::new()
            .with("token", a.token)
            .with("device_kid", a.device_kid.to_hex())
            .into_value())
    }
}

impl Handler for AttestdHandler {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        let args = req.args();
        match req.op() {
            "attest" => self.attest(ctx, args),
            "attest.device_key" => {
                args.only(&[])?;
                Ok(device_key_reply(&self.svc.device_key()?))
            }
            "attest.rotate_device_key" => {
                args.only(&[])?;
                Ok(device_key_reply(
                    &self.svc.rotate_device_key(ctx.subject())?,
                ))
            }
            "status" => {
                args.only(&[])?;
                let s = self.svc.status();
                Ok(Args::new()
                    .with("service", SERVICE)
                    .with("volatile", s.volatile)
                    .with("insecure", s.insecure)
                    .with("version", crate::SWVERSION)
                    .into_value())
            }
            other => Err(WireError::unknown_op(other)),
        }
    }
}
