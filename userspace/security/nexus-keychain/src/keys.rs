//! keystored's key and device ops (services.md, "keystored").
//!
//! Retry class of each op (see [`Retry`]): `key.create`, `key.rotate`,
//! `key.revoke`, `key.retire` are sent once (a second create or rotate
//! would make another key or version); `key.list`, `key.show`,
//! `key.sign`, `key.verify`, `key.seal`, `key.unseal`, `key.export` and
//! `device.info` change no state and are retried after a lost
//! connection. Plaintext arguments are zeroized after the call.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::secret::scrub;
use crate::service::Retry;
use crate::types::{
    CreatedKey, DeviceInfo, KeyAlg, KeyInfo, Sealed, Signed, Unsealed, Verified, WrappedExport,
};
use nexus_core::{AppId, Label};
use wire::{Args, Value};

fn key_args(purpose: &Label, name: &Label) -> Args {
    Args::new()
        .with("purpose", purpose.as_str())
        .with("name", name.as_str())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

impl Keychain {
    /// `key.create`: a new key `(purpose, name)` in the caller's app.
    pub fn create_key(
        &self,
        purpose: &Label,
        name: &Label,
        alg: KeyAlg,
    ) -> Result<CreatedKey, KeychainError> {
        let args = key_args(purpose, name).with("alg", alg.as_str());
        CreatedKey::read(self.keystored.call_map("key.create", &args, Retry::Once)?)
    }

    /// `key.rotate`: add a version and make it primary.
    pub fn rotate(&self, purpose: &Label, name: &Label) -> Result<CreatedKey, KeychainError> {
        let args = key_args(purpose, name);
        CreatedKey::read(self.keystored.call_map("key.rotate", &args, Retry::Once)?)
    }

    /// `key.revoke`: revoke the key, or one version of it.
    pub fn revoke(
        &self,
        purpose: &Label,
        name: &Label,
        version: Option<u64>,
    ) -> Result<(), KeychainError> {
        let mut args = key_args(purpose, name);
        if let Some(v) = version {
            args = args.with("version", v);
        }
        self.keystored.call_map("key.revoke", &args, Retry::Once)?;
        Ok(())
    }

    /// `key.retire`: retire every version below `min_version`.
    pub fn retire(
        &self,
        purpose: &Label,
        name: &Label,
        min_version: u64,
    ) -> Result<(), KeychainError> {
        let args = key_args(purpose, name).with("min_version", min_version);
        self.keystored.call_map("key.retire", &args, Retry::Once)?;
        Ok(())
    }

    /// `key.list`: the caller's keys, or (system callers) another app's.
    pub fn list_keys(&self, app: Option<&AppId>) -> Result<Vec<KeyInfo>, KeychainError> {
        let mut args = Args::new();
        if let Some(a) = app {
            args = args.with("app", a.as_str());
        }
        let mut r = self
            .keystored
            .call_map("key.list", &args, Retry::Idempotent)?;
        r.maps("keys")?.into_iter().map(KeyInfo::read).collect()
    }

    /// `key.show`: one key's metadata.
    pub fn show_key(
        &self,
        purpose: &Label,
        name: &Label,
        app: Option<&AppId>,
    ) -> Result<KeyInfo, KeychainError> {
        let mut args = key_args(purpose, name);
        if let Some(a) = app {
            args = args.with("app", a.as_str());
        }
        KeyInfo::read(
            self.keystored
                .call_map("key.show", &args, Retry::Idempotent)?,
        )
    }

    /// `key.sign`: sign `msg` with the primary version.
    pub fn sign(&self, purpose: &Label, name: &Label, msg: &[u8]) -> Result<Signed, KeychainError> {
        let args = key_args(purpose, name).with("msg", bytes(msg));
        let mut r = self
            .keystored
            .call_map("key.sign", &args, Retry::Idempotent)?;
        Ok(Signed {
            sig: r.bytes("sig")?,
            kid: r.kid("kid")?,
            version: r.u64("version")?,
        })
    }

    /// `key.verify`: check `sig` over `msg` (with `version`, or the version
    /// the service finds). A signature that does not verify is
    /// `Remote { code: EPERM }`.
    pub fn verify(
        &self,
        purpose: &Label,
        name: &Label,
        msg: &[u8],
        sig: &[u8],
        version: Option<u64>,
        app: Option<&AppId>,
    ) -> Result<Verified, KeychainError> {
        let mut args = key_args(purpose, name)
            .with("msg", bytes(msg))
            .with("sig", bytes(sig));
        if let Some(v) = version {
            args = args.with("version", v);
        }
        if let Some(a) = app {
            args = args.with("app", a.as_str());
        }
        let r = self
            .keystored
            .call_map("key.verify", &args, Retry::Idempotent)?;
        if !r.bool("valid")? {
            return Err(r.bad("valid", "is false in a success reply"));
        }
        Ok(Verified {
            version: r.u64("version")?,
            kid: r.kid("kid")?,
        })
    }

    /// `key.seal`: seal `plaintext` (bound to `aad`) with the primary
    /// version.
    pub fn seal(
        &self,
        purpose: &Label,
        name: &Label,
        plaintext: &[u8],
        aad: Option<&[u8]>,
    ) -> Result<Sealed, KeychainError> {
        let mut args = key_args(purpose, name).with("pt", bytes(plaintext));
        if let Some(a) = aad {
            args = args.with("aad", bytes(a));
        }
        let result = self
            .keystored
            .call_map("key.seal", &args, Retry::Idempotent);
        scrub(args);
        let mut r = result?;
        Ok(Sealed {
            sealed: r.bytes("sealed")?,
            version: r.u64("version")?,
        })
    }

    /// `key.unseal`: open a sealed blob; the plaintext comes back as
    /// [`crate::SecretBytes`].
    pub fn unseal(
        &self,
        purpose: &Label,
        name: &Label,
        sealed: &[u8],
        aad: Option<&[u8]>,
    ) -> Result<Unsealed, KeychainError> {
        let mut args = key_args(purpose, name).with("sealed", bytes(sealed));
        if let Some(a) = aad {
            args = args.with("aad", bytes(a));
        }
        let mut r = self
            .keystored
            .call_map("key.unseal", &args, Retry::Idempotent)?;
        Ok(Unsealed {
            plaintext: r.secret("pt")?,
            version: r.u64("version")?,
        })
    }

    /// `key.export`: the key (primary or `version`) as a blob that only
    /// this device's keymintd can open. No private key bytes ever leave.
    pub fn export_wrapped(
        &self,
        purpose: &Label,
        name: &Label,
        version: Option<u64>,
    ) -> Result<WrappedExport, KeychainError> {
        let mut args = key_args(purpose, name);
        if let Some(v) = version {
            args = args.with("version", v);
        }
        let mut r = self
            .keystored
            .call_map("key.export", &args, Retry::Idempotent)?;
        Ok(WrappedExport {
            blob: r.bytes("blob")?,
            app: r.parse("app")?,
            purpose: r.parse("purpose")?,
            name: r.parse("name")?,
            version: r.u64("version")?,
            alg: r.parse("alg")?,
        })
    }

    /// `device.info` (system callers only).
    pub fn device_info(&self) -> Result<DeviceInfo, KeychainError> {
        let mut r = self
            .keystored
            .call_map("device.info", &Args::new(), Retry::Idempotent)?;
        Ok(DeviceInfo {
            device_id: r.bytes("device_id")?,
            insecure: r.bool("insecure")?,
            volatile: r.bool("volatile")?,
        })
    }
}
