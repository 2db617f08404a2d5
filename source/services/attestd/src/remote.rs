//! [`RemoteBackend`]: the key backend over the wire to keystored, with the
//! ops of docs/architecture/services.md: `key.show` (with `app` for the
//! attested key), `key.create`, `key.rotate`, `key.sign`, `device.info`.
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
    checked_public, device_key_name, AttestedKey, BackendInfo, DeviceKey, DeviceSignature,
    KeyBackend,
};
use crate::error::AttestError;
use keymint::kid::Kid;
use keystore::KeyName;
use nexus_core::{Coded, ErrorCode};
use nexus_daemon::Call;
use nexus_proto::{
    self as proto, Alg, Bytes, DeviceInfo, Empty, KeyArgs, KeyCreate, KeyCreateArgs, KeyInfo,
    KeyRotate, KeyShow, KeyShowArgs, KeySign, KeySignArgs, KeyState, Op, VersionState,
};

/// The key backend over keystored.
pub struct RemoteBackend {
    up: Box<dyn Call>,
    device: KeyName,
}

impl std::fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBackend")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// The primary version of the key a `key-info` reply describes, checked
/// against the key that was asked about.
fn primary_of(
    info: KeyInfo,
    key: &KeyName,
) -> Result<(ed25519_dalek::VerifyingKey, Kid, u32), AttestError> {
    let same = info.app == key.app && info.purpose == key.purpose && info.name == key.name;
    if !same {
        return Err(AttestError::BadUpstream("key.show described another key"));
    }
    if info.alg != Alg::Ed25519 {
        return Err(AttestError::NotSigningKey {
            key: key.to_string(),
        });
    }
    let revoked = || AttestError::Revoked {
        key: key.to_string(),
    };
    if info.state == KeyState::Revoked {
        return Err(revoked());
    }
    let v = info
        .versions
        .into_iter()
        .find(|v| v.version == info.primary)
        .ok_or(AttestError::BadUpstream(
            "key.show lacks the primary version",
        ))?;
    if v.state != VersionState::Active {
        return Err(revoked());
    }
    const WHAT: &str = "malformed key.show reply";
    let kid = v.kid.ok_or(AttestError::BadUpstream(WHAT))?;
    let public = checked_public(
        &v.public_key.ok_or(AttestError::BadUpstream(WHAT))?,
        &kid,
        "key.show public key is weak or does not match its kid",
    )?;
    Ok((public, kid, info.primary))
}

impl RemoteBackend {
    /// A backend calling keystored over `up`.
    pub fn new(up: Box<dyn Call>) -> Result<Self, AttestError> {
        Ok(RemoteBackend {
            up,
            device: device_key_name()?,
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
        key: &KeyName,
        with_app: bool,
    ) -> Result<(ed25519_dalek::VerifyingKey, Kid, u32), AttestError> {
        let args = KeyShowArgs {
            purpose: key.purpose.clone(),
            name: key.name.clone(),
            app: with_app.then(|| key.app.clone()),
        };
        let info = self.call::<KeyShow>(&args, true, "malformed key.show reply")?;
        primary_of(info, key)
    }

    fn device_primary(&self) -> Result<DeviceKey, AttestError> {
        // The device key is in attestd's own namespace: no `app` needed.
        let (public, kid, version) = self.show(&self.device, false)?;
        Ok(DeviceKey {
            public,
            kid,
            version,
        })
    }
}

impl KeyBackend for RemoteBackend {
    fn ensure_device_key(&self) -> Result<DeviceKey, AttestError> {
        match self.device_primary() {
            Err(e) if e.code() == ErrorCode::Enoent => {
                let args = KeyCreateArgs {
                    purpose: self.device.purpose.clone(),
                    name: self.device.name.clone(),
                    alg: Alg::Ed25519,
                };
                match self.call::<KeyCreate>(&args, false, "malformed key.create reply") {
                    Ok(_) => {}
                    // Provisioned concurrently (or the create landed and
                    // its reply was lost): the key is there either way.
                    Err(AttestError::Upstream(e))
                        if e.remote_code() == Some(ErrorCode::Ealready) => {}
                    Err(e) => return Err(e),
                }
                self.device_primary()
            }
            other => other,
        }
    }

    fn device_key(&self) -> Result<DeviceKey, AttestError> {
        self.device_primary()
    }

    fn rotate_device_key(&self) -> Result<DeviceKey, AttestError> {
        const WHAT: &str = "malformed key.rotate reply";
        let args = KeyArgs {
            purpose: self.device.purpose.clone(),
            name: self.device.name.clone(),
        };
        let r = self.call::<KeyRotate>(&args, false, WHAT)?;
        let kid = r.kid.ok_or(AttestError::BadUpstream(WHAT))?;
        let public = checked_public(
            &r.public_key.ok_or(AttestError::BadUpstream(WHAT))?,
            &kid,
            "key.rotate public key is weak or does not match its kid",
        )?;
        Ok(DeviceKey {
            public,
            kid,
            version: r.version,
        })
    }

    fn sign_with_device_key(&self, msg: &[u8]) -> Result<DeviceSignature, AttestError> {
        let args = KeySignArgs {
            purpose: self.device.purpose.clone(),
            name: self.device.name.clone(),
            msg: Bytes::from(msg),
            prehash: None,
        };
        // Ed25519 signing is deterministic: sending it twice is harmless.
        let r = self.call::<KeySign>(&args, true, "malformed key.sign reply")?;
        let signature: [u8; 64] = r
            .sig
            .into_vec()
            .try_into()
            .map_err(|_| AttestError::BadUpstream("key.sign signature is not 64 bytes"))?;
        Ok(DeviceSignature {
            signature,
            kid: r.kid,
            version: r.version,
        })
    }

    fn attested_key(&self, key: &KeyName) -> Result<AttestedKey, AttestError> {
        let (public, kid, version) = self.show(key, true)?;
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
