//! The `key.*` ops over [`keystore::KeyStore`].
//!
//! Invariants:
//! - Private ops (create, rotate, revoke, retire, sign, seal, unseal,
//!   export) act on the caller's own namespace only: the key's app is
//!   always `subject.app_namespace()`, never an argument. The keystore then
//!   asks the policy engine for the op's capability (audited).
//! - Public reads (list, show, verify) take an optional `app`: the
//!   caller's own, or, for system subjects only, any app (audited as an
//!   allow). A non-system caller naming another app is refused with
//!   `EPERM` before anything is read (audited as a deny).
//! - Replies carry public metadata, signatures, ciphertexts and the
//!   plaintexts the caller sealed; never key material (export gives the
//!   device-bound wrapped blob only).

use crate::handler::{empty, opt_u32, Keystored};
use keymint::Algorithm;
use keystore::{
    KeyInfo, KeyName, KeySelector, KeyState, KeystoreError, Outcome, RevokeScope, VersionState,
};
use nexus_core::{AppId, Authorizer, Coded, ErrorCode, Label, Subject};
use wire::{ArgError, Args, Value, WireError};

fn bytes(b: impl Into<Vec<u8>>) -> Value {
    Value::Bytes(b.into())
}

fn key_state(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "active",
        KeyState::Revoked => "revoked",
    }
}

fn version_state(s: VersionState) -> &'static str {
    match s {
        VersionState::Active => "active",
        VersionState::Retired => "retired",
        VersionState::Revoked => "revoked",
    }
}

/// `key-info` as documented in services.md. `rotated` is the time of the
/// last rotation, or the creation time if the key was never rotated.
pub(crate) fn info_value(info: &KeyInfo) -> Value {
    let versions = info
        .versions
        .iter()
        .map(|v| {
            Args::new()
                .with("version", u64::from(v.version))
                .with("state", version_state(v.state))
                .with("created", v.created)
                .with("kid", v.kid.map_or(Value::Null, |k| k.to_hex().into()))
                .with(
                    "public_key",
                    v.public.map_or(Value::Null, |p| bytes(p.to_vec())),
                )
                .into_value()
        })
        .collect();
    Args::new()
        .with("app", info.name.app.as_str())
        .with("purpose", info.name.purpose.as_str())
        .with("name", info.name.name.as_str())
        .with("alg", info.alg.as_str())
        .with("state", key_state(info.state))
        .with("primary", u64::from(info.primary))
        .with("min_version", u64::from(info.min_version))
        .with("created", info.created)
        .with("rotated", info.rotated.unwrap_or(info.created))
        .with("versions", Value::Array(versions))
        .into_value()
}

fn label(a: &Args, name: &str) -> Result<Label, ArgError> {
    a.parse(name)
}

/// `(own app, purpose, name)`: the key a private op acts on.
fn own_key(s: &Subject, a: &Args) -> Result<KeyName, ArgError> {
    Ok(KeyName::new(
        s.app_namespace(),
        label(a, "purpose")?,
        label(a, "name")?,
    ))
}

fn alg(a: &Args) -> Result<Algorithm, ArgError> {
    Algorithm::parse(a.text("alg")?).ok_or_else(|| ArgError::Invalid("alg".to_owned()))
}

impl Keystored {
    fn authz(&self) -> &dyn Authorizer {
        &*self.policy
    }

    /// The app whose public metadata a read names (default: the caller's
    /// own), after the namespace decision.
    fn readable_app(&self, s: &Subject, op: &str, a: &Args) -> Result<AppId, WireError> {
        let own = s.app_namespace();
        let app = match a.opt_parse::<AppId>("app")? {
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

    /// The reply to create and rotate; soft-quota warnings also go to
    /// stderr (figures and names only).
    fn created(&self, s: &Subject, out: Outcome<KeyInfo>) -> Value {
        let info = out.value;
        let v = info.version(info.primary);
        let warnings: Vec<Value> = out
            .warnings
            .iter()
            .map(|w| {
                eprintln!("keystored: warning for {s}: {w}");
                Value::Text(w.to_string())
            })
            .collect();
        Args::new()
            .with("version", u64::from(info.primary))
            .with(
                "kid",
                v.and_then(|v| v.kid)
                    .map_or(Value::Null, |k| k.to_hex().into()),
            )
            .with(
                "public_key",
                v.and_then(|v| v.public)
                    .map_or(Value::Null, |p| bytes(p.to_vec())),
            )
            .with("warnings", Value::Array(warnings))
            .into_value()
    }

    /// `key.verify`: with `version`, that version; without, every active
    /// version (primary first) until one verifies. A signature that no
    /// version accepts is `EPERM`.
    fn verify(&self, s: &Subject, a: &Args) -> Result<Value, WireError> {
        a.only(&["purpose", "name", "msg", "sig", "version", "app"])?;
        let app = self.readable_app(s, "key.verify", a)?;
        let key = KeyName::new(app, label(a, "purpose")?, label(a, "name")?);
        let (msg, sig) = (a.bytes("msg")?, a.bytes("sig")?);
        let info = self.keys.describe(s, &key)?;
        let mut candidates: Vec<u32> = match opt_u32(a, "version")? {
            Some(v) => vec![v],
            None => {
                let mut active: Vec<u32> = info
                    .versions
                    .iter()
                    .filter(|v| v.state == VersionState::Active)
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
            match self.keys.verify(s, &key, KeySelector::Version(v), msg, sig) {
                Ok(v) => {
                    let kid = info
                        .version(v)
                        .and_then(|x| x.kid)
                        .map_or(Value::Null, |k| k.to_hex().into());
                    return Ok(Args::new()
                        .with("valid", true)
                        .with("version", u64::from(v))
                        .with("kid", kid)
                        .into_value());
                }
                Err(e) if e.code() == ErrorCode::Eperm => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.unwrap_or(KeystoreError::BadSignature).into())
    }

    fn list(&self, s: &Subject, a: &Args) -> Result<Value, WireError> {
        a.only(&["app"])?;
        let app = self.readable_app(s, "key.list", a)?;
        let mut keys = Vec::new();
        for name in self.keys.list(s, &app)? {
            keys.push(info_value(&self.keys.describe(s, &name)?));
        }
        Ok(Args::new().with("keys", Value::Array(keys)).into_value())
    }

    /// One `key.*` op.
    pub(crate) fn key_op(&self, s: &Subject, op: &str, a: &Args) -> Result<Value, WireError> {
        const KEY: [&str; 2] = ["purpose", "name"];
        match op {
            "key.create" => {
                a.only(&["purpose", "name", "alg"])?;
                let key = own_key(s, a)?;
                let out = self.keys.create(s, self.authz(), &key, alg(a)?)?;
                Ok(self.created(s, out))
            }
            "key.rotate" => {
                a.only(&KEY)?;
                let out = self.keys.rotate(s, self.authz(), &own_key(s, a)?)?;
                Ok(self.created(s, out))
            }
            "key.revoke" => {
                a.only(&["purpose", "name", "version"])?;
                let scope = opt_u32(a, "version")?.map_or(RevokeScope::Key, RevokeScope::Version);
                self.keys.revoke(s, self.authz(), &own_key(s, a)?, scope)?;
                Ok(empty())
            }
            "key.retire" => {
                a.only(&["purpose", "name", "min_version"])?;
                let min = a.u32("min_version")?;
                self.keys.retire(s, self.authz(), &own_key(s, a)?, min)?;
                Ok(empty())
            }
            "key.list" => self.list(s, a),
            "key.show" => {
                a.only(&["purpose", "name", "app"])?;
                let app = self.readable_app(s, op, a)?;
                let key = KeyName::new(app, label(a, "purpose")?, label(a, "name")?);
                Ok(info_value(&self.keys.describe(s, &key)?))
            }
            "key.sign" => {
                a.only(&["purpose", "name", "msg"])?;
                let out = self
                    .keys
                    .sign(s, self.authz(), &own_key(s, a)?, a.bytes("msg")?)?;
                Ok(Args::new()
                    .with("sig", bytes(out.signature.to_vec()))
                    .with("kid", out.kid.to_hex())
                    .with("version", u64::from(out.version))
                    .into_value())
            }
            "key.verify" => self.verify(s, a),
            "key.seal" => {
                a.only(&["purpose", "name", "pt", "aad"])?;
                let aad = a.opt_bytes("aad")?.unwrap_or_default();
                let out = self
                    .keys
                    .seal(s, self.authz(), &own_key(s, a)?, aad, a.bytes("pt")?)?;
                Ok(Args::new()
                    .with("sealed", bytes(out.sealed))
                    .with("version", u64::from(out.version))
                    .into_value())
            }
            "key.unseal" => {
                a.only(&["purpose", "name", "sealed", "aad"])?;
                let aad = a.opt_bytes("aad")?.unwrap_or_default();
                let mut out =
                    self.keys
                        .unseal(s, self.authz(), &own_key(s, a)?, aad, a.bytes("sealed")?)?;
                Ok(Args::new()
                    .with("pt", bytes(std::mem::take(&mut *out.plaintext)))
                    .with("version", u64::from(out.version))
                    .into_value())
            }
            "key.export" => {
                a.only(&["purpose", "name", "version"])?;
                let key = own_key(s, a)?;
                let out =
                    self.keys
                        .export_wrapped(s, self.authz(), &key, opt_u32(a, "version")?)?;
                let id = out.identity;
                Ok(Args::new()
                    .with("blob", bytes(out.wrapped.as_bytes().to_vec()))
                    .with("app", id.app.as_str())
                    .with("purpose", id.purpose.as_str())
                    .with("name", id.name.as_str())
                    .with("version", u64::from(id.version))
                    .with("alg", id.alg.as_str())
                    .into_value())
            }
            other => Err(WireError::unknown_op(other)),
        }
    }
}
