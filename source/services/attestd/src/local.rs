//! [`LocalBackend`]: the key backend over an in-process
//! `keystore::KeyStore` and its keymint, for host tests and benches.
//!
//! attestd acts here exactly as it does through keystored: as its own
//! subject (`system:attestd`), in its own key namespace, through the
//! keystore's public API, so every use of a device key passes the
//! keystore's namespace rule and the authorizer (`identity.key.create`,
//! `identity.key.rotate`, `identity.key.sign`), each decision audited.

use crate::backend::{
    checked_public, device_key_name, AttestedKey, BackendInfo, DeviceKey, DeviceKeyEntry,
    DeviceSignature, KeyBackend, DEVICE_KEY_PURPOSE,
};
use crate::error::AttestError;
use keymint::{Algorithm, KeyOps};
use keystore::{KeyInfo, KeyName, KeyStore};
use nexus_core::{AppId, Authorizer, Label, Subject};
use std::sync::Arc;

/// The key backend over an in-process keystore.
pub struct LocalBackend {
    store: Arc<KeyStore>,
    ops: Arc<dyn KeyOps>,
    authz: Arc<dyn Authorizer>,
    me: Subject,
    ns: AppId,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("store", &self.store)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// The primary version of `info` as a device key.
fn primary(info: &KeyInfo) -> Result<DeviceKey, AttestError> {
    let v = info.version(info.primary).ok_or(AttestError::BadUpstream(
        "device key has no primary version",
    ))?;
    let (Some(public), Some(kid)) = (v.public, v.kid) else {
        return Err(AttestError::BadUpstream(
            "device key version has no public key",
        ));
    };
    Ok(DeviceKey {
        key: info.name.clone(),
        public: checked_public(&public, &kid, "device key is weak or mismatches its kid")?,
        kid,
        version: v.version,
    })
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
        let ns = me.key_namespace();
        Ok(LocalBackend {
            store,
            ops,
            authz,
            me,
            ns,
        })
    }

    fn name(&self, name: &Label) -> Result<KeyName, AttestError> {
        device_key_name(&self.ns, name)
    }
}

impl KeyBackend for LocalBackend {
    fn device_keys(&self) -> Result<Vec<DeviceKeyEntry>, AttestError> {
        let listing = self.store.list_keys(&self.me, &self.ns)?;
        let readable = listing.keys.into_iter().map(|k| DeviceKeyEntry {
            key: k.name,
            damaged: None,
        });
        let damaged = listing.damaged.into_iter().map(|d| DeviceKeyEntry {
            key: d.name,
            damaged: Some(d.error.to_string()),
        });
        Ok(readable
            .chain(damaged)
            .filter(|e| e.key.purpose.as_str() == DEVICE_KEY_PURPOSE)
            .collect())
    }

    fn create_device_key(&self, name: &Label) -> Result<DeviceKey, AttestError> {
        let key = self.name(name)?;
        let out = self
            .store
            .create(&self.me, &*self.authz, &key, Algorithm::Ed25519)?;
        primary(&out.value)
    }

    fn device_key(&self, name: &Label) -> Result<DeviceKey, AttestError> {
        let key = self.name(name)?;
        let pk = self.store.public_key(&self.me, &key, None)?;
        Ok(DeviceKey {
            key,
            public: pk.key,
            kid: pk.kid,
            version: pk.version,
        })
    }

    fn rotate_device_key(&self, name: &Label) -> Result<DeviceKey, AttestError> {
        let key = self.name(name)?;
        let info = self.store.rotate(&self.me, &*self.authz, &key)?.value;
        primary(&info)
    }

    fn sign_with_device_key(
        &self,
        name: &Label,
        msg: &[u8],
    ) -> Result<DeviceSignature, AttestError> {
        let key = self.name(name)?;
        let out = self.store.sign(&self.me, &*self.authz, &key, msg)?;
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
