//! [`RemoteBackend`]: the key backend over the wire to keystored, with the
//! ops of docs/architecture/services.md: `key.list` and `key.show` (with
//! `app` for the attested key), `key.create`, `key.rotate`, `key.sign`
//! (with `show` of the attested key when signing a token), `device.info`.
//!
//! The channel is a [`nexus_daemon::Call`]: in the daemon, the upstream
//! `keystored` endpoint nexus-init hands over (re-issued when keystored
//! restarts, callers waiting a bounded time); in tests, one wire client.
//!
//! attestd's subject on that channel is its own (`system:attestd`, fixed by
//! the endpoint nexus-init handed it); keystored applies its namespace rule
//! and the policy to every call.
//!
//! Invariants: every request and reply is one of `nexus-proto`'s typed
//! ops, parsed at this edge with its documented types; the key a reply
//! describes must be the key asked about; public keys are parsed strictly and must match the stated kid;
//! a signature must come with a 64-byte value. Anything else is `EIO`
//! ([`AttestError::BadUpstream`]) — attestd never builds a token from an
//! answer it could not check.

use crate::backend::{
    checked_public, AttestedKey, BackendInfo, DeviceKey, DeviceKeyEntry, DeviceSignature,
    KeyBackend, DEVICE_KEY_PURPOSE,
};
use crate::error::AttestError;
use keymint::kid::Kid;
use keystore::KeyName;
use nexus_core::{AppId, Label};
use nexus_daemon::Call;
use nexus_proto::{
    self as proto, Alg, Bytes, DeviceInfo, Empty, KeyArgs, KeyCreate, KeyCreateArgs,
    KeyCreateReply, KeyInfo, KeyList, KeyListArgs, KeyRotate, KeyShow, KeyShowArgs, KeySign,
    KeySignArgs, KeyState, Op, VersionState,
};

/// The key backend over keystored.
pub struct RemoteBackend {
    up: Box<dyn Call>,
    purpose: Label,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBackend").finish_non_exhaustive()
    }
}

/// The primary version of the key a `key-info` reply describes, checked
/// against the key that was asked about: the same purpose and name, and
/// the same app if one was named (the caller's own namespace otherwise,
/// which keystored names in the reply). A public key byte for byte the
/// one of `known` (with the same kid and version) is not parsed again:
/// `known` was parsed and checked when it was first read.
fn primary_of(
    info: KeyInfo,
    purpose: &Label,
    name: &Label,
    app: Option<&AppId>,
    known: Option<&AttestedKey>,
) -> Result<(KeyName, ed25519_dalek::VerifyingKey, Kid, u32), AttestError> {
    let same = &info.purpose == purpose && &info.name == name && app.is_none_or(|a| *a == info.app);
    if !same {
        return Err(AttestError::BadUpstream("key.show described another key"));
    }
    let key = KeyName::new(info.app, info.purpose, info.name);
    if info.alg != Alg::Ed25519 {
        return Err(AttestError::NotSigningKey {
            key: key.to_string(),
        });
    }
    if info.state == KeyState::Revoked {
        return Err(AttestError::Revoked {
            key: key.to_string(),
            state: "revoked",
        });
    }
    let v = info
        .versions
        .into_iter()
        .find(|v| v.version == info.primary)
        .ok_or(AttestError::BadUpstream(
            "key.show lacks the primary version",
        ))?;
    let state = match v.state {
        VersionState::Active => None,
        VersionState::Retired => Some("retired"),
        VersionState::Revoked => Some("revoked"),
    };
    if let Some(state) = state {
        return Err(AttestError::Revoked {
            key: format!("{key} version {}", v.version),
            state,
        });
    }
    const WHAT: &str = "malformed key.show reply";
    let kid = v.kid.ok_or(AttestError::BadUpstream(WHAT))?;
    let bytes = v.public_key.ok_or(AttestError::BadUpstream(WHAT))?;
    if let Some(k) = known.filter(|k| {
        k.kid == kid && k.version == info.primary && k.public.as_bytes()[..] == bytes[..]
    }) {
        return Ok((key, k.public, kid, info.primary));
    }
    let public = checked_public(
        &bytes,
        &kid,
        "key.show public key is weak or does not match its kid",
    )?;
    Ok((key, public, kid, info.primary))
}

impl RemoteBackend {
    /// A backend calling keystored over `up`.
    pub fn new(up: Box<dyn Call>) -> Result<Self, AttestError> {
        Ok(RemoteBackend {
            up,
            purpose: Label::new(DEVICE_KEY_PURPOSE)
                .map_err(|_| AttestError::BadUpstream("bad device key purpose"))?,
        })
    }

    /// Call `O` on keystored; a reply of the wrong shape is `what`.
    fn call<O: Op>(
        &self,
        args: &O::Args,
        idempotent: bool,
        what: &'static str,
    ) -> Result<O::Reply, AttestError> {
        let args = proto::encode_args::<O>(args).map_err(|_| AttestError::BadUpstream(what))?;
        let ok = self.up.call(O::NAME, &args, idempotent)?;
        proto::decode_reply::<O>(ok).map_err(|_| AttestError::BadUpstream(what))
    }

    fn show(
        &self,
        purpose: &Label,
        name: &Label,
        app: Option<&AppId>,
    ) -> Result<(KeyName, ed25519_dalek::VerifyingKey, Kid, u32), AttestError> {
        let args = KeyShowArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            app: app.cloned(),
        };
        let info = self.call::<KeyShow>(&args, true, "malformed key.show reply")?;
        primary_of(info, purpose, name, app, None)
    }

    /// `key.sign` with device key `name`, showing `attested` if given.
    fn sign(
        &self,
        name: &Label,
        msg: &[u8],
        attested: Option<&KeyName>,
    ) -> Result<(DeviceSignature, Option<KeyInfo>), AttestError> {
        let args = KeySignArgs {
            purpose: self.purpose.clone(),
            name: name.clone(),
            msg: Bytes::from(msg),
            prehash: None,
            app: None,
            show: attested.map(|k| KeyShowArgs {
                purpose: k.purpose.clone(),
                name: k.name.clone(),
                app: Some(k.app.clone()),
            }),
        };
        // Ed25519 signing is deterministic and `show` only reads: sending
        // it twice is harmless.
        let r = self.call::<KeySign>(&args, true, "malformed key.sign reply")?;
        let signature: [u8; 64] = r
            .sig
            .into_vec()
            .try_into()
            .map_err(|_| AttestError::BadUpstream("key.sign signature is not 64 bytes"))?;
        let sig = DeviceSignature {
            signature,
            kid: r.kid,
            version: r.version,
        };
        Ok((sig, r.shown))
    }

    /// A device key from a create or rotate reply for `name`.
    fn made(
        &self,
        name: &Label,
        r: KeyCreateReply,
        what: &'static str,
    ) -> Result<DeviceKey, AttestError> {
        let kid = r.kid.ok_or(AttestError::BadUpstream(what))?;
        let public = checked_public(
            &r.public_key.ok_or(AttestError::BadUpstream(what))?,
            &kid,
            "new device key is weak or does not match its kid",
        )?;
        // The reply does not name the namespace: read it back, which also
        // checks that the version made is the primary one.
        let key = self.device_key(name)?;
        if key.kid != kid || key.version != r.version || key.public != public {
            return Err(AttestError::BadUpstream(what));
        }
        Ok(key)
    }
}

impl KeyBackend for RemoteBackend {
    fn device_keys(&self) -> Result<Vec<DeviceKeyEntry>, AttestError> {
        let r =
            self.call::<KeyList>(&KeyListArgs { app: None }, true, "malformed key.list reply")?;
        let readable = r.keys.into_iter().map(|k| DeviceKeyEntry {
            key: KeyName::new(k.app, k.purpose, k.name),
            damaged: None,
        });
        let damaged = r.damaged.into_iter().map(|d| DeviceKeyEntry {
            key: KeyName::new(d.app, d.purpose, d.name),
            damaged: Some(d.error),
        });
        Ok(readable
            .chain(damaged)
            .filter(|e| e.key.purpose == self.purpose)
            .collect())
    }

    fn create_device_key(&self, name: &Label) -> Result<DeviceKey, AttestError> {
        const WHAT: &str = "malformed key.create reply";
        let args = KeyCreateArgs {
            purpose: self.purpose.clone(),
            name: name.clone(),
            alg: Alg::Ed25519,
        };
        let r = self.call::<KeyCreate>(&args, false, WHAT)?;
        self.made(name, r, WHAT)
    }

    fn device_key(&self, name: &Label) -> Result<DeviceKey, AttestError> {
        // The device keys are in attestd's own namespace: no `app` needed.
        let (key, public, kid, version) = self.show(&self.purpose, name, None)?;
        Ok(DeviceKey {
            key,
            public,
            kid,
            version,
        })
    }

    fn rotate_device_key(&self, name: &Label) -> Result<DeviceKey, AttestError> {
        const WHAT: &str = "malformed key.rotate reply";
        let args = KeyArgs {
            purpose: self.purpose.clone(),
            name: name.clone(),
            app: None,
        };
        let r = self.call::<KeyRotate>(&args, false, WHAT)?;
        self.made(name, r, WHAT)
    }

    fn sign_with_device_key(
        &self,
        name: &Label,
        msg: &[u8],
    ) -> Result<DeviceSignature, AttestError> {
        Ok(self.sign(name, msg, None)?.0)
    }

    fn sign_attesting(
        &self,
        name: &Label,
        msg: &[u8],
        attested: &KeyName,
        known: &AttestedKey,
    ) -> Result<(DeviceSignature, AttestedKey), AttestError> {
        let (sig, shown) = self.sign(name, msg, Some(attested))?;
        let info = shown.ok_or(AttestError::BadUpstream(
            "key.sign reply lacks the key it was asked to show",
        ))?;
        let (_, public, kid, version) = primary_of(
            info,
            &attested.purpose,
            &attested.name,
            Some(&attested.app),
            Some(known),
        )?;
        Ok((
            sig,
            AttestedKey {
                public,
                kid,
                version,
            },
        ))
    }

    fn attested_key(&self, key: &KeyName) -> Result<AttestedKey, AttestError> {
        let (_, public, kid, version) = self.show(&key.purpose, &key.name, Some(&key.app))?;
        Ok(AttestedKey {
            public,
            kid,
            version,
        })
    }

    fn info(&self) -> Result<BackendInfo, AttestError> {
        let r = self.call::<DeviceInfo>(&Empty {}, true, "malformed device.info reply")?;
        let device_id: [u8; 32] = r
            .device_id
            .into_vec()
            .try_into()
            .map_err(|_| AttestError::BadUpstream("device.info device_id is not 32 bytes"))?;
        Ok(BackendInfo {
            device_id,
            volatile: r.volatile,
            insecure: r.insecure,
        })
    }
}

#[cfg(test)]
#[path = "tests/remote.rs"]
mod tests;
