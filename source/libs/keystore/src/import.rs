//! Import: a new key whose version 1 is an existing Ed25519 private key.
//!
//! Invariants: the seed is handed to keymint by reference and never kept
//! here (keymint wraps it at once and returns only the wrapped blob and
//! the public key); the namespace rule and the `identity.key.import`
//! capability are checked before anything else (the authorizer records
//! the decision); the result is a key record like a created one, so
//! every later operation, export included, treats it the same and none
//! returns its material. Only Ed25519 keys are imported.

use crate::access;
use crate::error::KeystoreError;
use crate::model::{KeyInfo, KeyName, KeyRecord, Outcome};
use crate::store::KeyStore;
use keymint::{Algorithm, Ed25519Seed};
use nexus_core::{Authorizer, Capability, Subject};

impl KeyStore {
    /// Create `key` from an existing Ed25519 private key. `EALREADY` if the
    /// name is taken, as for [`KeyStore::create`]; `EINVAL` for an
    /// algorithm other than Ed25519.
    pub fn import(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        alg: Algorithm,
        seed: &Ed25519Seed,
    ) -> Result<Outcome<KeyInfo>, KeystoreError> {
        access::private(subject, authz, Capability::KeyImport, key)?;
        if alg != Algorithm::Ed25519 {
            return Err(KeystoreError::Invalid("only Ed25519 keys can be imported"));
        }
        self.update(subject, key, |old| {
            if old.is_some() {
                return Err(KeystoreError::Exists {
                    key: key.to_string(),
                });
            }
            let imported = self.ops.import(&key.identity(1, alg), seed)?;
            let v1 = self.version_record(1, alg, imported)?;
            Ok(KeyRecord::first(key, alg, v1))
        })
    }
}
