//! keymintd's request handler: the caller check, then one `km.*` op over
//! the in-process [`KeyMint`].
//!
//! Invariants:
//! - The caller check ([`crate::access`]) runs before anything else; every
//!   refusal is `EPERM`, written to the audit log and to stderr with the
//!   subject and op name only.
//! - Arguments are decoded into the op's `nexus-proto` types (validated:
//!   `AppId`, `Label`, `UserId`, `SessionId`, the algorithm, a non-zero
//!   version); any surplus argument is `EINVAL`. No argument value ever
//!   reaches a log line or an error message.
//! - An imported private key arrives in a zeroizing `Secret` and becomes
//!   a [`keymint::Ed25519Seed`] (exactly 32 bytes, else ``argument
//!   `private` is invalid``); it leaves keymint only wrapped.
//! - Auth secrets and verifier inputs arrive in zeroizing `Secret`s and
//!   become [`keymint::AuthSecret`]s / [`keymint::VerifierInput`]s
//!   (exactly 32 bytes, else `argument `X` is invalid`); a plaintext from
//!   `km.unseal`/`km.vault.unseal` leaves keymint's zeroizing buffer only
//!   to become the reply's `Secret`.
//! - `km.device` carries this process's boot id, so identityd can tell
//!   that keymintd restarted (and lost its sessions).
//! - No op returns private key material: only wrapped blobs, public keys,
//!   signatures, ciphertexts, verifier MACs (and plaintexts the caller
//!   sealed). The verifier pepper never leaves keymint. The state and
//!   trust MAC keys leave keymint's zeroizing buffers only as the reply's
//!   `Secret`; a state key is derived for the channel's own subject, never
//!   one the caller names.
//! - Every op that may change the session table (unseal, lock, end, end
//!   of an instance, sync) puts the table's stamp on the session board
//!   before its reply is sent, so the vault never serves a session on the
//!   strength of an answer that change made stale.
//! - Sizes are checked against `nexus_proto::limits`, the same limits
//!   keystored applies at the public edge: whatever keystored accepted,
//!   keymintd takes; anything larger is `EINVAL` naming the limit.

use crate::access::{Caller, Op};
use keymint::{
    AuthSecret, Ed25519Seed, KeyMint, KeyOps, SessionKeyOps, SessionLookup, SessionRef,
    VaultKeyOps, VerifierInput, WrappedKey, WrappedVaultKey,
};
use keymint_client::board::{BoardError, SessionBoard};
use keymint_client::{ident_from_wire, owner_from_wire, owner_to_wire};
use nexus_core::{ErrorCode, Subject};
use nexus_daemon::AuditLog;
use nexus_proto::{
    self as proto, limits, Bytes, Empty, KeyReply, KmDevice, KmDeviceReply, KmEndedReply, KmForget,
    KmGenerate, KmGenerateReply, KmImport, KmSeal, KmSessionEnd, KmSessionEndInstance,
    KmSessionEndReply, KmSessionLock, KmSessionState, KmSessionSync, KmSessionSyncReply,
    KmSessionUnseal, KmSessionUser, KmSessionUserReply, KmSign, KmSignReply, KmStateKey,
    KmTrustKey, KmUnseal, KmVaultKeyCreate, KmVaultKeyRewrap, KmVaultSeal, KmVaultUnseal,
    KmVerifierMac, KmVerifierMacReply, PlaintextReply, SealedReply, Secret, Status, StatusReply,
    WrappedReply,
};
use wire::{ArgError, CallContext, Handler, Request, Value, WireError};
use zeroize::Zeroize;

// The vault is sealed whole, as one plaintext.
const _: () = assert!(limits::MAX_VAULT_FILE_LEN <= limits::MAX_PLAINTEXT_LEN);

/// The target written in keymintd's audit records.
const AUDIT_TARGET: &str = "keymintd";

/// keymintd's service: a [`KeyMint`] behind the caller table.
pub struct KeymintService {
    km: KeyMint,
    insecure: bool,
    status: StatusReply,
    audit: Option<AuditLog>,
    board: Option<SessionBoard>,
}

impl std::fmt::Debug for KeymintService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeymintService")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// A 32-byte secret argument, copied only into zeroizing storage.
fn secret32<T>(secret: &Secret, name: &str, wrap: fn([u8; 32]) -> T) -> Result<T, ArgError> {
    let mut arr: [u8; 32] = secret
        .expose()
        .try_into()
        .map_err(|_| ArgError::Invalid(name.to_owned()))?;
    let out = wrap(arr);
    arr.zeroize();
    Ok(out)
}

fn auth(secret: &Secret, name: &str) -> Result<AuthSecret, ArgError> {
    secret32(secret, name, AuthSecret::from_bytes)
}

fn wrapped(b: Bytes) -> WrappedKey {
    WrappedKey::from_bytes(b.into_vec())
}

fn vault_key(b: Bytes) -> WrappedVaultKey {
    WrappedVaultKey::from_bytes(b.into_vec())
}

impl KeymintService {
    /// Serve `km`. `status` is the reply to `status`; `insecure` is
    /// reported by `km.device`; refusals are recorded in `audit`.
    pub fn new(km: KeyMint, insecure: bool, status: StatusReply, audit: Option<AuditLog>) -> Self {
        KeymintService {
            km,
            insecure,
            status,
            audit,
            board: None,
        }
    }

    /// Publish the session table's stamp on `board` after every change
    /// of the table (see `keymint_client::board`).
    pub fn with_session_board(mut self, board: SessionBoard) -> Self {
        self.board = Some(board);
        self
    }

    /// After an op that may have changed the session table, and before
    /// its reply leaves: put the table's stamp on the board. A board that
    /// could not be written was emptied (readers ask keymintd); one that
    /// could not even be emptied would let a reader trust an answer the
    /// change made stale, so keymintd stops instead of replying.
    fn publish_sessions(&self) {
        let (Some(board), Some(stamp)) = (&self.board, self.km.session_stamp()) else {
            return;
        };
        match board.publish(stamp) {
            Ok(()) => {}
            Err(e @ BoardError::Emptied(_)) => eprintln!("keymintd: {e}"),
            Err(e) => {
                eprintln!("keymintd: {e}; stopping so that no stale session answer is served");
                std::process::abort();
            }
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

    fn dispatch(&self, op: Op, subject: &Subject, req: &Request) -> Result<Value, WireError> {
        let km = &self.km;
        match op {
            Op::Status => proto::serve::<Status>(req, |_| Ok(self.status.clone())),
            Op::Device => proto::serve::<KmDevice>(req, |_| {
                Ok(KmDeviceReply {
                    device_id: Bytes(km.device_id().to_vec()),
                    insecure: self.insecure,
                    boot_id: Bytes(km.boot_id()?.to_vec()),
                })
            }),
            Op::Generate => proto::serve::<KmGenerate>(req, |a| {
                let g = km.generate(&ident_from_wire(a.ident))?;
                Ok(KmGenerateReply {
                    wrapped: Bytes(g.wrapped.as_bytes().to_vec()),
                    public: g.public.map(|pk| Bytes(pk.to_bytes().to_vec())),
                })
            }),
            Op::Import => proto::serve::<KmImport>(req, |a| {
                let seed = Ed25519Seed::from_slice(a.private.expose())
                    .map_err(|_| ArgError::Invalid("private".to_owned()))?;
                let g = km.import(&ident_from_wire(a.ident), &seed)?;
                Ok(KmGenerateReply {
                    wrapped: Bytes(g.wrapped.as_bytes().to_vec()),
                    public: g.public.map(|pk| Bytes(pk.to_bytes().to_vec())),
                })
            }),
            Op::Sign => proto::serve::<KmSign>(req, |a| {
                limits::MESSAGE.check("msg", a.msg.len())?;
                let sig = km.sign(&ident_from_wire(a.ident), &wrapped(a.wrapped), &a.msg)?;
                Ok(KmSignReply {
                    sig: Bytes(sig.to_bytes().to_vec()),
                })
            }),
            Op::Seal => proto::serve::<KmSeal>(req, |a| {
                limits::PLAINTEXT.check("pt", a.pt.expose().len())?;
                limits::BOUND_AAD.check("aad", a.aad.len())?;
                let id = ident_from_wire(a.ident);
                let sealed = km.seal(&id, &wrapped(a.wrapped), &a.aad, a.pt.expose())?;
                Ok(SealedReply {
                    sealed: Bytes(sealed),
                })
            }),
            Op::Unseal => proto::serve::<KmUnseal>(req, |a| {
                limits::KEYMINT_SEALED.check("sealed", a.sealed.len())?;
                limits::BOUND_AAD.check("aad", a.aad.len())?;
                let id = ident_from_wire(a.ident);
                let pt = km.unseal(&id, &wrapped(a.wrapped), &a.aad, &a.sealed)?;
                Ok(PlaintextReply { pt: pt.into() })
            }),
            Op::VaultKeyCreate => proto::serve::<KmVaultKeyCreate>(req, |a| {
                let auth = auth(&a.auth, "auth")?;
                let w = km.create_vault_key(&owner_from_wire(a.owner), &auth)?;
                Ok(WrappedReply {
                    wrapped: Bytes(w.as_bytes().to_vec()),
                })
            }),
            Op::VaultKeyRewrap => proto::serve::<KmVaultKeyRewrap>(req, |a| {
                let (old, new) = (auth(&a.old, "old")?, auth(&a.new, "new")?);
                let owner = owner_from_wire(a.owner);
                let w = km.rewrap_vault_key(&owner, &old, &new, &vault_key(a.wrapped))?;
                Ok(WrappedReply {
                    wrapped: Bytes(w.as_bytes().to_vec()),
                })
            }),
            Op::SessionUnseal => proto::serve::<KmSessionUnseal>(req, |a| {
                let auth = auth(&a.auth, "auth")?;
                let owner = owner_from_wire(a.owner);
                km.unseal_session(a.sid, &owner, &auth, &vault_key(a.wrapped))?;
                Ok(Empty {})
            }),
            Op::SessionLock => proto::serve::<KmSessionLock>(req, |a| {
                Ok(KmSessionEndReply {
                    was_unsealed: km.lock_session(a.sid)?,
                })
            }),
            Op::SessionEnd => proto::serve::<KmSessionEnd>(req, |a| {
                Ok(KmSessionEndReply {
                    was_unsealed: km.end_session(a.sid)?,
                })
            }),
            Op::SessionEndInstance => proto::serve::<KmSessionEndInstance>(req, |a| {
                Ok(KmEndedReply {
                    ended: km.end_instance(a.instance)? as u64,
                })
            }),
            Op::SessionSync => proto::serve::<KmSessionSync>(req, |a| {
                let known: Vec<SessionRef> = a
                    .sessions
                    .into_iter()
                    .map(|r| SessionRef {
                        sid: r.sid,
                        owner: owner_from_wire(r.owner),
                        active: r.active,
                    })
                    .collect();
                let report = km.sync_sessions(&known)?;
                Ok(KmSessionSyncReply {
                    active: report.active,
                    ended: report.ended as u64,
                })
            }),
            Op::VerifierMac => proto::serve::<KmVerifierMac>(req, |a| {
                let input = secret32(&a.input, "input", VerifierInput::from_bytes)?;
                Ok(KmVerifierMacReply {
                    mac: Bytes(km.verifier_mac(&input)?.to_vec()),
                })
            }),
            Op::SessionUser => proto::serve::<KmSessionUser>(req, |a| {
                if a.others.len() > limits::MAX_SESSION_OTHERS {
                    return Err(ArgError::Invalid("others".to_owned()).into());
                }
                let (lookup, others, stamp) = km.session_check_stamped(a.sid, &a.others)?;
                let (state, owner) = match lookup {
                    SessionLookup::Active(owner) => {
                        (KmSessionState::Active, Some(owner_to_wire(&owner)))
                    }
                    SessionLookup::Locked => (KmSessionState::Locked, None),
                    SessionLookup::Unknown => (KmSessionState::Unknown, None),
                };
                Ok(KmSessionUserReply {
                    state,
                    owner,
                    others,
                    stamp: Bytes(stamp.map(|s| s.to_bytes().to_vec()).unwrap_or_default()),
                })
            }),
            Op::Forget => proto::serve::<KmForget>(req, |a| {
                km.forget(&a.app, &a.purpose, &a.name)?;
                Ok(Empty {})
            }),
            Op::VaultSeal => proto::serve::<KmVaultSeal>(req, |a| {
                limits::VAULT_FILE.check("pt", a.pt.expose().len())?;
                limits::BOUND_AAD.check("aad", a.aad.len())?;
                let sealed = km.vault_seal(a.sid, &a.aad, a.pt.expose())?;
                Ok(SealedReply {
                    sealed: Bytes(sealed),
                })
            }),
            Op::StateKey => proto::serve::<KmStateKey>(req, |_| {
                // The caller's own key: derived for the channel's subject.
                let key = km.state_key(&subject.to_string())?;
                Ok(KeyReply {
                    key: Secret::copy_from(&key[..]),
                })
            }),
            Op::TrustKey => proto::serve::<KmTrustKey>(req, |_| {
                let key = km.trust_key()?;
                Ok(KeyReply {
                    key: Secret::copy_from(&key[..]),
                })
            }),
            Op::VaultUnseal => proto::serve::<KmVaultUnseal>(req, |a| {
                limits::KEYMINT_SEALED.check("sealed", a.sealed.len())?;
                limits::BOUND_AAD.check("aad", a.aad.len())?;
                let pt = km.vault_unseal(a.sid, &a.aad, &a.sealed)?;
                Ok(PlaintextReply { pt: pt.into() })
            }),
        }
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
        let reply = self.dispatch(op, subject, req);
        if op.changes_sessions() {
            self.publish_sessions();
        }
        reply
    }
}
