//! keystored's key and device ops (services.md, "keystored").
//!
//! Retry class of each op (see [`Retry`]): `key.create`, `key.rotate`,
//! `key.revoke`, `key.retire` are sent once (a second create or rotate
//! would make another key or version); `key.list`, `key.show`,
//! `key.sign`, `key.verify`, `key.seal`, `key.unseal`, `key.export` and
//! `device.info` change no state and are retried after a lost
//! connection. Plaintext arguments travel in zeroizing `Secret`s and the
//! encoded request is wiped after the call.
//!
//! Every op acts on the caller's own key namespace (these calls never send
//! `app` to a private op). Messages, plaintexts, sealed blobs and AAD over
//! `nexus_proto::limits` are refused here, before anything is sent, with
//! the service's own `EINVAL` message naming the limit.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::secret::SecretBytes;
use crate::service::Retry;
use crate::types::{
    CreatedKey, DamagedKey, DeviceInfo, KeyAlg, KeyInfo, KeyListing, Sealed, Signed, Unsealed,
    Verified, WrappedExport,
};
use nexus_core::{AppId, Label};
use nexus_proto::{
    self as proto, limits, Bytes, Empty, KeyArgs, KeyCreateArgs, KeyListArgs, KeyRetireArgs,
    KeySealArgs, KeyShowArgs, KeySignArgs, KeyUnsealArgs, KeyVerifyArgs, KeyVersionArgs, Secret,
};

pub(crate) fn key_args(purpose: &Label, name: &Label) -> KeyArgs {
    KeyArgs {
        purpose: purpose.clone(),
        name: name.clone(),
        app: None,
    }
}

/// A version number the caller asks for, as the wire carries it (1..=2^32−1).
pub(crate) fn version_arg(v: u64) -> Result<u32, KeychainError> {
    u32::try_from(v).map_err(|_| KeychainError::Invalid("a key version fits in 32 bits".into()))
}

impl Keychain {
    /// `key.create`: a new key `(purpose, name)` in the caller's app.
    pub fn create_key(
        &self,
        purpose: &Label,
        name: &Label,
        alg: KeyAlg,
    ) -> Result<CreatedKey, KeychainError> {
        let args = KeyCreateArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            alg: alg.into(),
        };
        let r = self
            .keystored
            .call_op::<proto::KeyCreate>(&args, Retry::Once)?;
        Ok(r.into())
    }

    /// `key.rotate`: add a version and make it primary.
    pub fn rotate(&self, purpose: &Label, name: &Label) -> Result<CreatedKey, KeychainError> {
        let args = key_args(purpose, name);
        let r = self
            .keystored
            .call_op::<proto::KeyRotate>(&args, Retry::Once)?;
        Ok(r.into())
    }

    /// `key.revoke`: revoke the key, or one version of it.
    pub fn revoke(
        &self,
        purpose: &Label,
        name: &Label,
        version: Option<u64>,
    ) -> Result<(), KeychainError> {
        let args = KeyVersionArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            version: version.map(version_arg).transpose()?,
            app: None,
        };
        self.keystored
            .call_op::<proto::KeyRevoke>(&args, Retry::Once)?;
        Ok(())
    }

    /// `key.retire`: retire every version below `min_version`.
    pub fn retire(
        &self,
        purpose: &Label,
        name: &Label,
        min_version: u64,
    ) -> Result<(), KeychainError> {
        let args = KeyRetireArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            min_version: version_arg(min_version)?,
            app: None,
        };
        self.keystored
            .call_op::<proto::KeyRetire>(&args, Retry::Once)?;
        Ok(())
    }

    /// `key.list`: the caller's readable keys, or (system callers)
    /// another app's. Keys whose record is damaged are left out here;
    /// [`Keychain::key_listing`] names them.
    pub fn list_keys(&self, app: Option<&AppId>) -> Result<Vec<KeyInfo>, KeychainError> {
        Ok(self.key_listing(app)?.keys)
    }

    /// `key.list`, whole: the readable keys and the damaged records.
    pub fn key_listing(&self, app: Option<&AppId>) -> Result<KeyListing, KeychainError> {
        let args = KeyListArgs { app: app.cloned() };
        let r = self
            .keystored
            .call_op::<proto::KeyList>(&args, Retry::Idempotent)?;
        Ok(KeyListing {
            keys: r.keys.into_iter().map(KeyInfo::from).collect(),
            damaged: r.damaged.into_iter().map(DamagedKey::from).collect(),
        })
    }

    /// `key.show`: one key's metadata.
    pub fn show_key(
        &self,
        purpose: &Label,
        name: &Label,
        app: Option<&AppId>,
    ) -> Result<KeyInfo, KeychainError> {
        let args = KeyShowArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            app: app.cloned(),
        };
        let r = self
            .keystored
            .call_op::<proto::KeyShow>(&args, Retry::Idempotent)?;
        Ok(r.into())
    }

    /// `key.sign`: sign `msg` with the primary version.
    pub fn sign(&self, purpose: &Label, name: &Label, msg: &[u8]) -> Result<Signed, KeychainError> {
        limits::MESSAGE.check("message", msg.len())?;
        self.sign_with(KeySignArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            msg: Bytes::from(msg),
            prehash: None,
            app: None,
            show: None,
        })
    }

    /// `key.sign` with `args` (plain or prehashed).
    pub(crate) fn sign_with(&self, args: KeySignArgs) -> Result<Signed, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::KeySign>(&args, Retry::Idempotent)?;
        Ok(Signed {
            sig: r.sig.into_vec(),
            kid: r.kid,
            version: u64::from(r.version),
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
        limits::MESSAGE.check("message", msg.len())?;
        self.verify_with(KeyVerifyArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            msg: Bytes::from(msg),
            sig: Bytes::from(sig),
            version: version.map(version_arg).transpose()?,
            app: app.cloned(),
            prehash: None,
        })
    }

    /// `key.verify` with `args` (plain or prehashed).
    pub(crate) fn verify_with(&self, args: KeyVerifyArgs) -> Result<Verified, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::KeyVerify>(&args, Retry::Idempotent)?;
        if !r.valid {
            return Err(KeychainError::BadReply {
                service: self.keystored.service(),
                op: "key.verify",
                detail: "`valid` is false in a success reply".into(),
            });
        }
        Ok(Verified {
            version: u64::from(r.version),
            kid: r.kid,
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
        limits::PLAINTEXT.check("plaintext", plaintext.len())?;
        limits::AAD.check("aad", aad.map_or(0, <[u8]>::len))?;
        let args = KeySealArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            pt: Secret::copy_from(plaintext),
            aad: aad.map(Bytes::from),
            app: None,
        };
        let r = self
            .keystored
            .call_op::<proto::KeySeal>(&args, Retry::Idempotent)?;
        Ok(Sealed {
            sealed: r.sealed.into_vec(),
            version: u64::from(r.version),
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
        limits::SEALED.check("sealed data", sealed.len())?;
        limits::AAD.check("aad", aad.map_or(0, <[u8]>::len))?;
        let args = KeyUnsealArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            sealed: Bytes::from(sealed),
            aad: aad.map(Bytes::from),
            app: None,
        };
        let r = self
            .keystored
            .call_op::<proto::KeyUnseal>(&args, Retry::Idempotent)?;
        Ok(Unsealed {
            plaintext: SecretBytes::from(r.pt),
            version: u64::from(r.version),
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
        let args = KeyVersionArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            version: version.map(version_arg).transpose()?,
            app: None,
        };
        let r = self
            .keystored
            .call_op::<proto::KeyExport>(&args, Retry::Idempotent)?;
        Ok(WrappedExport {
            blob: r.blob.into_vec(),
            app: r.app,
            purpose: r.purpose,
            name: r.name,
            version: u64::from(r.version),
            alg: r.alg.into(),
        })
    }

    /// `device.info` (system callers only).
    pub fn device_info(&self) -> Result<DeviceInfo, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::DeviceInfo>(&Empty {}, Retry::Idempotent)?;
        Ok(DeviceInfo {
            device_id: r.device_id.into_vec(),
            insecure: r.insecure,
            volatile: r.volatile,
        })
    }
}
