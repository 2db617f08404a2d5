//! Deleting a key: its record and every wrapped version go, its quota and
//! its name are freed.
//!
//! Invariants:
//! - Only the owner deletes (the namespace rule of `access.rs`, so a key a
//!   service owns is refused to everyone else), and only with
//!   `identity.key.delete` (audited by the authorizer).
//! - The record is removed whatever it holds, a damaged one included: the
//!   record is not decoded, only its length read for the usage figures
//!   (one its state root refuses, rolled back or changed, is removed all
//!   the same, and the usage recounted).
//! - Under the writers' lock, so a concurrent create of the same name comes
//!   wholly before or wholly after.

use crate::access;
use crate::error::KeystoreError;
use crate::model::KeyName;
use crate::quota::Usage;
use crate::record;
use crate::store::KeyStore;
use nexus_core::{Authorizer, Capability, Subject};

impl KeyStore {
    /// Delete `key`: `ENOENT` if there is none. What it signed no longer
    /// verifies here and what it sealed can no longer be unsealed; a new
    /// key of the same name is a new key.
    pub fn delete(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
    ) -> Result<(), KeystoreError> {
        access::private(subject, authz, Capability::KeyDelete, key)?;
        let mut table = self.lock();
        let before = self.usage_of(&mut table, &key.app)?;
        let path = record::key_path(key)?;
        let not_found = || KeystoreError::NotFound {
            key: key.to_string(),
        };
        let len = match self.state.read(&path) {
            Ok(Some(bytes)) => Some(bytes.len()),
            Ok(None) => return Err(not_found()),
            Err(statefs::StateError::Integrity { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let deleted = self.state.delete(&path);
        // Gone, or perhaps gone: never served from the cache again, and
        // keymint may drop its unwrapped copies.
        self.cache.forget(key);
        self.forget_material(key);
        match deleted {
            Ok(true) => {
                match len {
                    Some(len) => {
                        table.insert(
                            key.app.clone(),
                            Usage {
                                bytes: before.bytes.saturating_sub(len as u64),
                                keys: before.keys.saturating_sub(1),
                            },
                        );
                    }
                    None => {
                        table.remove(&key.app);
                    }
                }
                Ok(())
            }
            Ok(false) => Err(not_found()),
            Err(e) => {
                // It may or may not be gone: recount next time.
                table.remove(&key.app);
                Err(e.into())
            }
        }
    }
}
