//! keymintd's request handler: the caller check, then one `km.*` op over
//! the in-process [`KeyMint`].
//!
//! Invariants:
//! - The caller check ([`crate::access`]) runs before anything else; every
//!   refusal is `EPERM`, written to the audit log and to stderr with the
//!   subject and op name only.
//! - Arguments are parsed with `wire::Args` into validated types; any
//!   surplus argument is `EINVAL`. No argument value ever reaches a log
//!   line or an error message.
//! - Auth secrets live in zeroizing [`keymint::AuthSecret`]s; a plaintext
//!   from `km.unseal`/`km.vault.unseal` leaves keymint's zeroizing buffer
//!   only to become the reply.
//! - No op returns private key material: only wrapped blobs, public keys,
//!   signatures and ciphertexts (and plaintexts the caller sealed).

use crate::access::{Caller, Op};
use crate::params;
use keymint::{KeyMint, KeyOps, VaultKeyOps, WrappedKey, WrappedVaultKey};
use nexus_core::{ErrorCode, Subject};
use nexus_daemon::AuditLog;
use wire::{Args, CallContext, Handler, Request, Value, WireError};

/// The target written in keymintd's audit records.
const AUDIT_TARGET: &str = "keymintd";

/// keymintd's service: a [`KeyMint`] behind the caller table.
pub struct KeymintService {
    km: KeyMint,
    insecure: bool,
    status: Value,
    audit: Option<AuditLog>,
}

impl std::fmt::Debug for KeymintService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeymintService")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

fn bytes(v: impl Into<Vec<u8>>) -> Value {
    Value::Bytes(v.into())
}

impl KeymintService {
    /// Serve `km`. `status` is the reply to `status`; `insecure` is
    /// reported by `km.device`; refusals are recorded in `audit`.
    pub fn new(km: KeyMint, insecure: bool, status: Value, audit: Option<AuditLog>) -> Self {
        KeymintService {
            km,
            insecure,
            status,
            audit,
        }
    }

    fn deny(&self, subject: &Subject, op: &str, reason: &str, msg: &str) -> WireError {
        eprintln!("keymintd: denied {op} to {subject} ({reason})");
        if let Some(audit) = &self.audit {
            if let Err(e) = audit.record(subject, op, AUDIT_TARGET, false, reason) {
                eprintln!("keymintd: audit record failed: {e}");
            }
        }
        WireError::new(ErrorCode::Eperm, msg)
    }

    fn wrapped(args: &Args) -> Result<WrappedKey, WireError> {
        Ok(WrappedKey::from_bytes(args.bytes("wrapped")?.to_vec()))
    }

    fn vault_key(args: &Args) -> Result<WrappedVaultKey, WireError> {
        Ok(WrappedVaultKey::from_bytes(args.bytes("wrapped")?.to_vec()))
    }

    fn dispatch(&self, op: Op, subject: &Subject, a: &Args) -> Result<Value, WireError> {
        let reply = match op {
            Op::Status => {
                a.only(&[])?;
                return Ok(self.status.clone());
            }
            Op::Device => {
                a.only(&[])?;
                Args::new()
                    .with("device_id", bytes(self.km.device_id()))
                    .with("insecure", self.insecure)
            }
            Op::Generate => {
                a.only(&["ident"])?;
                let g = self.km.generate(&params::ident(a)?)?;
                let public = g
                    .public
                    .map_or(Value::Null, |pk| bytes(pk.to_bytes().to_vec()));
                Args::new()
                    .with("wrapped", bytes(g.wrapped.as_bytes()))
                    .with("public", public)
            }
            Op::Sign => {
                a.only(&["ident", "wrapped", "msg"])?;
                let id = params::ident(a)?;
                let sig = self.km.sign(&id, &Self::wrapped(a)?, a.bytes("msg")?)?;
                Args::new().with("sig", bytes(sig.to_bytes().to_vec()))
            }
            Op::Seal => {
                a.only(&["ident", "wrapped", "aad", "pt"])?;
                let id = params::ident(a)?;
                let wrapped = Self::wrapped(a)?;
                let sealed = self
                    .km
                    .seal(&id, &wrapped, a.bytes("aad")?, a.bytes("pt")?)?;
                Args::new().with("sealed", bytes(sealed))
            }
            Op::Unseal => {
                a.only(&["ident", "wrapped", "aad", "sealed"])?;
                let id = params::ident(a)?;
                let wrapped = Self::wrapped(a)?;
                let mut pt = self
                    .km
                    .unseal(&id, &wrapped, a.bytes("aad")?, a.bytes("sealed")?)?;
                Args::new().with("pt", bytes(std::mem::take(&mut *pt)))
            }
            Op::VaultKeyCreate => {
                a.only(&["user", "auth"])?;
                let user = params::user(a)?;
                let auth = params::auth(a, "auth")?;
                let wrapped = self.km.create_vault_key(&user, &auth)?;
                Args::new().with("wrapped", bytes(wrapped.as_bytes()))
            }
            Op::VaultKeyRewrap => {
                a.only(&["user", "old", "new", "wrapped"])?;
                let user = params::user(a)?;
                let old = params::auth(a, "old")?;
                let new = params::auth(a, "new")?;
                let wrapped = self
                    .km
                    .rewrap_vault_key(&user, &old, &new, &Self::vault_key(a)?)?;
                Args::new().with("wrapped", bytes(wrapped.as_bytes()))
            }
            Op::SessionUnseal => {
                a.only(&["sid", "user", "auth", "wrapped"])?;
                let sid = params::sid(a)?;
                let user = params::user(a)?;
                let auth = params::auth(a, "auth")?;
                self.km
                    .unseal_session(sid, &user, &auth, &Self::vault_key(a)?)?;
                Args::new()
            }
            Op::SessionEnd => {
                a.only(&["sid"])?;
                let was = self.km.end_session(params::sid(a)?);
                Args::new().with("was_unsealed", was)
            }
            Op::SessionEndAll => {
                a.only(&[])?;
                let ended = self.km.end_all_sessions()?;
                Args::new().with("ended", ended as u64)
            }
            Op::SessionUser => {
                a.only(&["sid"])?;
                let user = self
                    .km
                    .session_user(params::sid(a)?)
                    .map_or(Value::Null, |u| Value::Text(u.as_str().to_owned()));
                Args::new().with("user", user)
            }
            Op::VaultSeal => {
                a.only(&["sid", "aad", "pt"])?;
                let sid = params::sid(a)?;
                let sealed = self.km.vault_seal(sid, a.bytes("aad")?, a.bytes("pt")?)?;
                Args::new().with("sealed", bytes(sealed))
            }
            Op::StateKey => {
                // The caller's own key: derived for the channel's subject.
                a.only(&[])?;
                let key = self.km.state_key(&subject.to_string())?;
                Args::new().with("key", bytes(key.to_vec()))
            }
            Op::TrustKey => {
                a.only(&[])?;
                Args::new().with("key", bytes(self.km.trust_key()?.to_vec()))
            }
            Op::VaultUnseal => {
                a.only(&["sid", "aad", "sealed"])?;
                let sid = params::sid(a)?;
                let mut pt = self
                    .km
                    .vault_unseal(sid, a.bytes("aad")?, a.bytes("sealed")?)?;
                Args::new().with("pt", bytes(std::mem::take(&mut *pt)))
            }
        };
        Ok(reply.into_value())
    }
}

impl Handler for KeymintService {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        let subject = ctx.subject();
        let Some(caller) = Caller::of(subject) else {
            return Err(self.deny(
                subject,
                req.op(),
                "not_a_caller",
                "keymintd serves only the identity services",
            ));
        };
        let Some(op) = Op::parse(req.op()) else {
            return Err(WireError::unknown_op(req.op()));
        };
        if !op.allows(caller) {
            return Err(self.deny(
                subject,
                op.name(),
                "not_this_callers_op",
                "this operation is not available to the caller",
            ));
        }
        self.dispatch(op, subject, req.args())
    }
}
