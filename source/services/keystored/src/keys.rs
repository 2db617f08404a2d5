//! The `key.*` ops over [`keystore::KeyStore`].
//!
//! Invariants:
//! - Private ops (create, import, rotate, revoke, retire, sign, seal,
//!   unseal, export, delete) act on the caller's own key namespace only
//!   (`Subject::key_namespace`: each system service has its own). They
//!   take an optional `app`, which may only name that namespace: any other,
//!   whoever asks (`system:admin` included), is refused with `EPERM`
//!   before anything is read (audited as a deny), so a key a service owns
//!   is that service's alone. The keystore then asks the policy engine for
//!   the op's capability (audited).
//! - Public reads (list, show, verify) take an optional `app`: the
//!   caller's own, or, for system subjects only, any app (audited as an
//!   allow). A non-system caller naming another app is refused with
//!   `EPERM` before anything is read (audited as a deny).
//! - `key.list` never fails for one damaged record: it is listed apart,
//!   with its record path and the reason.
//! - Replies carry public metadata, signatures, ciphertexts and the
//!   plaintexts the caller sealed; never key material (export gives the
//!   device-bound wrapped blob only).

use crate::handler::Keystored;
use keymint_client::{alg_from_wire, alg_to_wire};
use keystore::{KeyInfo, KeyName, KeystoreError, Outcome, RevokeScope};
use nexus_core::{AppId, Authorizer, Coded, ErrorCode, Label, Subject};
use nexus_proto::{
    self as proto, Bytes, DamagedKey, Empty, KeyArgs, KeyCreate, KeyCreateArgs, KeyCreateReply,
    KeyDelete, KeyExport, KeyExportReply, KeyImport, KeyList, KeyListReply, KeyRetire, KeyRevoke,
    KeyRotate, KeySeal, KeySealReply, KeyShow, KeyShowArgs, KeySign, KeyUnseal, KeyUnsealReply,
    KeyVerify, KeyVerifyArgs, KeyVerifyReply, KeyVersionInfo, Op,
};
use wire::{Request, Value, WireError};

fn key_state(s: keystore::KeyState) -> proto::KeyState {
    match s {
        keystore::KeyState::Active => proto::KeyState::Active,
        keystore::KeyState::Revoked => proto::KeyState::Revoked,
    }
}

fn version_state(s: keystore::VersionState) -> proto::VersionState {
    match s {
        keystore::VersionState::Active => proto::VersionState::Active,
        keystore::VersionState::Retired => proto::VersionState::Retired,
        keystore::VersionState::Revoked => proto::VersionState::Revoked,
    }
}

/// `key-info` as documented in services.md. `rotated` is the time of the
/// last rotation, or the creation time if the key was never rotated.
pub(crate) fn info_reply(info: &KeyInfo) -> proto::KeyInfo {
    proto::KeyInfo {
        app: info.name.app.clone(),
        purpose: info.name.purpose.clone(),
        name: info.name.name.clone(),
        alg: alg_to_wire(info.alg),
        state: key_state(info.state),
        primary: info.primary,
        min_version: info.min_version,
        created: info.created,
        rotated: info.rotated.unwrap_or(info.created),
        versions: info
            .versions
            .iter()
            .map(|v| KeyVersionInfo {
                version: v.version,
                state: version_state(v.state),
                created: v.created,
                kid: v.kid,
                public_key: v.public.map(|p| Bytes(p.to_vec())),
            })
            .collect(),
    }
}

impl Keystored {
    pub(crate) fn authz(&self) -> &dyn Authorizer {
        &*self.policy
    }

    /// `(own namespace, purpose, name)`: the key a private op acts on. An
    /// `app` naming any other namespace is refused and audited.
    pub(crate) fn own_key(
        &self,
        s: &Subject,
        op: &str,
        app: Option<AppId>,
        purpose: Label,
        name: Label,
    ) -> Result<KeyName, WireError> {
        let own = s.key_namespace();
        match app {
            Some(app) if app != own => {
                self.record(
                    s,
                    op,
                    &format!("{app}/{purpose}/{name}"),
                    false,
                    "other_namespace",
                )?;
                Err(WireError::from_coded(&KeystoreError::Namespace {
                    subject: s.to_string(),
                    app: app.to_string(),
                }))
            }
            _ => Ok(KeyName::new(own, purpose, name)),
        }
    }

    /// The app whose public metadata a read names (default: the caller's
    /// own), after the namespace decision.
    fn readable_app(&self, s: &Subject, op: &str, app: Option<AppId>) -> Result<AppId, WireError> {
        let own = s.key_namespace();
        let app = match app {
            None => return Ok(own),
            Some(app) if app == own => return Ok(own),
            Some(app) => app,
        };
        if s.is_system() {
            self.record(s, op, app.as_str(), true, "system_read")?;
            return Ok(app);
        }
        self.record(s, op, app.as_str(), false, "other_app")?;
        Err(WireError::from_coded(&KeystoreError::Namespace {
            subject: s.to_string(),
            app: app.to_string(),
        }))
    }

    /// `key.show`, and the `show` of a `key.sign`: the same namespace
    /// decision and audit record either way.
    pub(crate) fn show(&self, s: &Subject, a: KeyShowArgs) -> Result<proto::KeyInfo, WireError> {
        let app = self.readable_app(s, KeyShow::NAME, a.app)?;
        let key = KeyName::new(app, a.purpose, a.name);
        Ok(info_reply(&self.keys.describe(s, &key)?))
    }

    /// The reply to create and rotate; soft-quota warnings also go to
    /// stderr (figures and names only).
    pub(crate) fn created(&self, s: &Subject, out: Outcome<KeyInfo>) -> KeyCreateReply {
        let info = out.value;
        let v = info.version(info.primary);
        let warnings = out
            .warnings
            .iter()
            .map(|w| {
                eprintln!("keystored: warning for {s}: {w}");
                w.to_string()
            })
            .collect();
        KeyCreateReply {
            version: info.primary,
            kid: v.and_then(|v| v.kid),
            public_key: v.and_then(|v| v.public).map(|p| Bytes(p.to_vec())),
            warnings,
        }
    }

    fn create(&self, s: &Subject, a: KeyCreateArgs) -> Result<KeyCreateReply, WireError> {
        let key = KeyName::new(s.key_namespace(), a.purpose, a.name);
        let out = self
            .keys
            .create(s, self.authz(), &key, alg_from_wire(a.alg))?;
        Ok(self.created(s, out))
    }

    fn rotate(&self, s: &Subject, a: KeyArgs) -> Result<KeyCreateReply, WireError> {
        let key = self.own_key(s, KeyRotate::NAME, a.app, a.purpose, a.name)?;
        let out = self.keys.rotate(s, self.authz(), &key)?;
        Ok(self.created(s, out))
    }

    /// `key.verify`: with `version`, that version; without, every active
    /// version (primary first) until one verifies. A signature that no
    /// version accepts is `EPERM`.
    fn verify(&self, s: &Subject, a: KeyVerifyArgs) -> Result<KeyVerifyReply, WireError> {
        let app = self.readable_app(s, KeyVerify::NAME, a.app)?;
        let key = KeyName::new(app, a.purpose, a.name);
        let info = self.keys.describe(s, &key)?;
        let mut candidates: Vec<u32> = match a.version {
            Some(v) => vec![v],
            None => {
                let mut active: Vec<u32> = info
                    .versions
                    .iter()
                    .filter(|v| v.state == keystore::VersionState::Active)
                    .map(|v| v.version)
                    .collect();
                active.sort_by_key(|v| (*v != info.primary, std::cmp::Reverse(*v)));
                active
            }
        };
        if candidates.is_empty() {
            // Nothing active: let the store say why (revoked, retired).
            candidates.push(info.primary);
        }
        let mut last = None;
        for v in candidates {
            match self.verify_version(s, &key, v, a.prehash, &a.msg, &a.sig) {
                Ok(v) => {
                    let kid = info.version(v).and_then(|x| x.kid).ok_or_else(|| {
                        WireError::new(ErrorCode::Eio, "a verifying key version has no kid")
                    })?;
                    return Ok(KeyVerifyReply {
                        valid: true,
                        version: v,
                        kid,
                    });
                }
                Err(e) if e.code() == ErrorCode::Eperm => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.unwrap_or(KeystoreError::BadSignature).into())
    }

    fn list(&self, s: &Subject, app: Option<AppId>) -> Result<KeyListReply, WireError> {
        let app = self.readable_app(s, KeyList::NAME, app)?;
        let listing = self.keys.list_keys(s, &app)?;
        let damaged = listing
            .damaged
            .into_iter()
            .map(|d| {
                eprintln!("keystored: damaged key record {}: {}", d.record, d.error);
                DamagedKey {
                    app: d.name.app,
                    purpose: d.name.purpose,
                    name: d.name.name,
                    record: d.record,
                    error: format!("{}: {}", ErrorCode::Eio, d.error),
                }
            })
            .collect();
        Ok(KeyListReply {
            keys: listing.keys.iter().map(info_reply).collect(),
            damaged,
        })
    }

    /// One `key.*` op.
    pub(crate) fn key_op(&self, s: &Subject, req: &Request) -> Result<Value, WireError> {
        let authz = self.authz();
        match req.op() {
            KeyCreate::NAME => proto::serve::<KeyCreate>(req, |a| self.create(s, a)),
            KeyImport::NAME => proto::serve::<KeyImport>(req, |a| self.import(s, a)),
            KeyRotate::NAME => proto::serve::<KeyRotate>(req, |a| self.rotate(s, a)),
            KeyRevoke::NAME => proto::serve::<KeyRevoke>(req, |a| {
                let scope = a.version.map_or(RevokeScope::Key, RevokeScope::Version);
                let key = self.own_key(s, KeyRevoke::NAME, a.app, a.purpose, a.name)?;
                self.keys.revoke(s, authz, &key, scope)?;
                Ok(Empty {})
            }),
            KeyRetire::NAME => proto::serve::<KeyRetire>(req, |a| {
                let key = self.own_key(s, KeyRetire::NAME, a.app, a.purpose, a.name)?;
                self.keys.retire(s, authz, &key, a.min_version)?;
                Ok(Empty {})
            }),
            KeyList::NAME => proto::serve::<KeyList>(req, |a| self.list(s, a.app)),
            KeyShow::NAME => proto::serve::<KeyShow>(req, |a| self.show(s, a)),
            KeySign::NAME => proto::serve::<KeySign>(req, |a| self.sign(s, a)),
            KeyVerify::NAME => proto::serve::<KeyVerify>(req, |a| self.verify(s, a)),
            KeySeal::NAME => proto::serve::<KeySeal>(req, |a| {
                let key = self.own_key(s, KeySeal::NAME, a.app, a.purpose, a.name)?;
                let aad = a.aad.unwrap_or_default();
                let out = self.keys.seal(s, authz, &key, &aad, a.pt.expose())?;
                Ok(KeySealReply {
                    sealed: Bytes(out.sealed),
                    version: out.version,
                })
            }),
            KeyUnseal::NAME => proto::serve::<KeyUnseal>(req, |a| {
                let key = self.own_key(s, KeyUnseal::NAME, a.app, a.purpose, a.name)?;
                let aad = a.aad.unwrap_or_default();
                let out = self.keys.unseal(s, authz, &key, &aad, &a.sealed)?;
                Ok(KeyUnsealReply {
                    pt: out.plaintext.into(),
                    version: out.version,
                })
            }),
            KeyExport::NAME => proto::serve::<KeyExport>(req, |a| {
                let key = self.own_key(s, KeyExport::NAME, a.app, a.purpose, a.name)?;
                let out = self.keys.export_wrapped(s, authz, &key, a.version)?;
                let id = out.identity;
                Ok(KeyExportReply {
                    blob: Bytes(out.wrapped.as_bytes().to_vec()),
                    app: id.app,
                    purpose: id.purpose,
                    name: id.name,
                    version: id.version,
                    alg: alg_to_wire(id.alg),
                })
            }),
            KeyDelete::NAME => proto::serve::<KeyDelete>(req, |a| self.delete(s, a)),
            other => Err(WireError::unknown_op(other)),
        }
    }
}
