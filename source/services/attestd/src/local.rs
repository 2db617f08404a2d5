//! [`LocalBackend`]: the key backend over an in-process
//! `keystore::KeyStore` and its keymint, for host tests and benches.
//!
//! attestd acts here exactly as it does through keystored: as its own
//! subject (`system:attestd`), through the keystore's public API, so every
//! use of the device key passes the keystore's namespace rule and the
//! authorizer (`identity.key.create`, `identity.key.rotate`,
//! `identity.key.sign`), each decision audited.

use crate::backend::{
    checked_public, device_key_name, AttestedKey, BackendInfo, DeviceKey, DeviceSignature,
    KeyBackend,
};
use crate::error::AttestError;
use keymint::{Algorithm, KeyOps};
use keystore::{KeyName, KeyStore};
use nexus_core::{Authorizer, Coded, ErrorCode, Subject};
use std::sync::Arc;

/// The key backend over an in-process keystore.
pub struct LocalBackend {
    store: Arc<KeyStore>,
    ops: Arc<dyn KeyOps>,
    authz: Arc<dyn Authorizer>,
    me: Subject,
    device: KeyName,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("store", &self.store)
            .field("me", &self.me)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// A backend acting as `me` (normally `system:attestd`) on `store`,
    /// whose keymint is `ops` (for the device id), asking `authz`.
    pub fn new(
        store: Arc<KeyStore>,
        ops: Arc<dyn KeyOps>,
        authz: Arc<dyn Authorizer>,
        me: Subject,
    ) -> Result<Self, AttestError> {
        Ok(LocalBackend {
            store,
            ops,
            authz,
            me,
            device: device_key_name()?,
        })
    }

    fn primary_device_key(&self) -> Result<DeviceKey, AttestError> {
        let pk = self.store.public_key(&self.me, &self.device, None)?;
        Ok(DeviceKey {
            public: pk.key,
            kid: pk.kid,
            version: pk.version,
        })
    }
}

impl KeyBackend for LocalBackend {
    fn ensure_device_key(&self) -> Result<DeviceKey, AttestError> {
        match self.primary_device_key() {
            Err(AttestError::Keystore(e)) if e.code() == ErrorCode::Enoent => {
                match self
                    .store
                    .create(&self.me, &*self.authz, &self.device, Algorithm::Ed25519)
                {
                    Ok(_) => {}
                    // Someone else (keystored's provisioning) won the race.
                    Err(e) if e.code() == ErrorCode::Ealready => {}
                    Err(e) => return Err(e.into()),
                }
                self.primary_device_key()
            }
            other => other,
        }
    }

    fn device_key(&self) -> Result<DeviceKey, AttestError> {
        self.primary_device_key()
    }

    fn rotate_device_key(&self) -> Result<DeviceKey, AttestError> {
        let info = self
            .store
            .rotate(&self.me, &*self.authz, &self.device)?
            .value;
        let v = info.version(info.primary).ok_or(AttestError::BadUpstream(
            "rotated key has no primary version",
        ))?;
        let (Some(public), Some(kid)) = (v.public, v.kid) else {
            return Err(AttestError::BadUpstream(
                "rotated device key version has no public key",
            ));
        };
        Ok(DeviceKey {
            public: checked_public(
                &public,
                &kid,
                "rotated device key is weak or mismatches its kid",
            )?,
            kid,
            version: v.version,
        })
    }

    fn sign_with_device_key(&self, msg: &[u8]) -> Result<DeviceSignature, AttestError> {
        let out = self.store.sign(&self.me, &*self.authz, &self.device, msg)?;
        Ok(DeviceSignature {
            signature: out.signature,
            kid: out.kid,
            version: out.version,
        })
    }

    fn attested_key(&self, key: &KeyName) -> Result<AttestedKey, AttestError> {
        // public_key refuses non-signing keys (EINVAL), revoked keys and
        // unusable primary versions (EKEYREVOKED), and parses the stored
        // key strictly against its kid (EIO).
        let pk = self.store.public_key(&self.me, key, None)?;
        Ok(AttestedKey {
            public: pk.key,
            kid: pk.kid,
            version: pk.version,
        })
    }

    fn info(&self) -> Result<BackendInfo, AttestError> {
        Ok(BackendInfo {
            device_id: self.ops.device_id(),
            volatile: self.store.is_volatile(),
            insecure: self.store.is_insecure(),
        })
    }
}
