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
//! Invariants: every reply is parsed at this edge. Fields are read with
//! their documented types; the key a reply describes must be the key asked
//! about; public keys are parsed strictly and must match the stated kid;
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
use wire::{Args, Value};

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

const ALG_ED25519: &str = "Ed25519";

fn bad(what: &'static str) -> impl Fn(wire::ArgError) -> AttestError {
    move |_| AttestError::BadUpstream(what)
}

fn reply_map(v: Value, what: &'static str) -> Result<Args, AttestError> {
    Args::from_value(v).map_err(bad(what))
}

fn kid_field(a: &Args, what: &'static str) -> Result<Kid, AttestError> {
    Kid::from_hex(a.text("kid").map_err(bad(what))?).map_err(|_| AttestError::BadUpstream(what))
}

/// The primary version of the key a `key-info` reply describes, checked
/// against the key that was asked about.
fn primary_of(
    info: Value,
    key: &KeyName,
) -> Result<(ed25519_dalek::VerifyingKey, Kid, u32), AttestError> {
    const WHAT: &str = "malformed key.show reply";
    let info = reply_map(info, WHAT)?;
    let same = info.text("app").map_err(bad(WHAT))? == key.app.as_str()
        && info.text("purpose").map_err(bad(WHAT))? == key.purpose.as_str()
        && info.text("name").map_err(bad(WHAT))? == key.name.as_str();
    if !same {
        return Err(AttestError::BadUpstream("key.show described another key"));
    }
    if info.text("alg").map_err(bad(WHAT))? != ALG_ED25519 {
        return Err(AttestError::NotSigningKey {
            key: key.to_string(),
        });
    }
    let revoked = || AttestError::Revoked {
        key: key.to_string(),
    };
    match info.text("state").map_err(bad(WHAT))? {
        "active" => {}
        "revoked" => return Err(revoked()),
        _ => return Err(AttestError::BadUpstream(WHAT)),
    }
    let primary = info.u32("primary").map_err(bad(WHAT))?;
    let versions = info
        .get("versions")
        .and_then(Value::as_array)
        .ok_or(AttestError::BadUpstream(WHAT))?;
    let mut found = None;
    for v in versions {
        let v = reply_map(v.clone(), WHAT)?;
        if v.u32("version").map_err(bad(WHAT))? == primary {
            found = Some(v);
            break;
        }
    }
    let v = found.ok_or(AttestError::BadUpstream(
        "key.show lacks the primary version",
    ))?;
    match v.text("state").map_err(bad(WHAT))? {
        "active" => {}
        "retired" | "revoked" => return Err(revoked()),
        _ => return Err(AttestError::BadUpstream(WHAT)),
    }
    let kid = kid_field(&v, WHAT)?;
    let public = checked_public(
        v.bytes("public_key").map_err(bad(WHAT))?,
        &kid,
        "key.show public key is weak or does not match its kid",
    )?;
    Ok((public, kid, primary))
}

impl RemoteBackend {
    /// A backend calling keystored over `up`.
    pub fn new(up: Box<dyn Call>) -> Result<Self, AttestError> {
        Ok(RemoteBackend {
            up,
            device: device_key_name()?,
        })
    }

    fn show(
        &self,
        key: &KeyName,
        with_app: bool,
    ) -> Result<(ed25519_dalek::VerifyingKey, Kid, u32), AttestError> {
        let mut args = Args::new()
            .with("purpose", key.purpose.as_str())
            .with("name", key.name.as_str());
        if with_app {
            args = args.with("app", key.app.as_str());
        }
        let reply = self.up.call("key.show", &args, true)?;
        primary_of(reply, key)
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
                let args = Args::new()
                    .with("purpose", self.device.purpose.as_str())
                    .with("name", self.device.name.as_str())
                    .with("alg", ALG_ED25519);
                match self.up.call("key.create", &args, false) {
                    Ok(_) => {}
                    // Provisioned concurrently (or the create landed and
                    // its reply was lost): the key is there either way.
                    Err(e) if e.remote_code() == Some(ErrorCode::Ealready) => {}
                    Err(e) => return Err(e.into()),
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
        let args = Args::new()
            .with("purpose", self.device.purpose.as_str())
            .with("name", self.device.name.as_str());
        let r = reply_map(self.up.call("key.rotate", &args, false)?, WHAT)?;
        let version = r.u32("version").map_err(bad(WHAT))?;
        let kid = kid_field(&r, WHAT)?;
        let public = checked_public(
            r.bytes("public_key").map_err(bad(WHAT))?,
            &kid,
            "key.rotate public key is weak or does not match its kid",
        )?;
        Ok(DeviceKey {
            public,
            kid,
            version,
        })
    }

    fn sign_with_device_key(&self, msg: &[u8]) -> Result<DeviceSignature, AttestError> {
        const WHAT: &str = "malformed key.sign reply";
        let args = Args::new()
            .with("purpose", self.device.purpose.as_str())
            .with("name", self.device.name.as_str())
            .with("msg", Value::Bytes(msg.to_vec()));
        // Ed25519 signing is deterministic: sending it twice is harmless.
        let r = reply_map(self.up.call("key.sign", &args, true)?, WHAT)?;
        let signature: [u8; 64] = r
            .bytes("sig")
            .map_err(bad(WHAT))?
            .try_into()
            .map_err(|_| AttestError::BadUpstream("key.sign signature is not 64 bytes"))?;
        Ok(DeviceSignature {
            signature,
            kid: kid_field(&r, WHAT)?,
            version: r.u32("version").map_err(bad(WHAT))?,
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
        const WHAT: &str = "malformed device.info reply";
        let r = reply_map(self.up.call("device.info", &Args::new(), true)?, WHAT)?;
        let device_id: [u8; 32] = r
            .bytes("device_id")
            .map_err(bad(WHAT))?
            .try_into()
            .map_err(|_| AttestError::BadUpstream("device.info device_id is not 32 bytes"))?;
        Ok(BackendInfo {
            device_id,
            volatile: r.bool("volatile").map_err(bad(WHAT))?,
            insecure: r.bool("insecure").map_err(bad(WHAT))?,
        })
    }
}

#[cfg(test)]
#[path = "tests/remote.rs"]
mod tests;
