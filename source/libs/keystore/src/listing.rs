//! Listing a namespace: every key whose record reads, and every key whose
//! record does not, named with its record and why.
//!
//! Invariant: one damaged record never hides the others. A record that
//! fails its checks (`EIO`) is listed as damaged; anything else that goes
//! wrong (the namespace rule, the store itself) fails the whole listing.

use crate::error::KeystoreError;
use crate::model::{KeyInfo, KeyName};
use crate::record;
use crate::store::KeyStore;
use nexus_core::{AppId, Coded, ErrorCode, Subject};

/// A key whose record cannot be read.
#[derive(Debug)]
pub struct DamagedKey {
    /// The key the record's path names.
    pub name: KeyName,
    /// The record, as a `state:/keystore/…` path.
    pub record: String,
    /// Why it cannot be read (always `EIO`).
    pub error: KeystoreError,
}

/// Every key of one namespace, sorted by name.
#[derive(Debug, Default)]
pub struct Listing {
    /// The readable keys' public metadata.
    pub keys: Vec<KeyInfo>,
    /// The keys whose records are damaged.
    pub damaged: Vec<DamagedKey>,
}

impl KeyStore {
    /// The public metadata of every key of `app`, and the damaged records
    /// apart. Same namespace rule as [`KeyStore::list`].
    pub fn list_keys(&self, subject: &Subject, app: &AppId) -> Result<Listing, KeystoreError> {
        let mut out = Listing::default();
        for name in self.list(subject, app)? {
            let path = record::key_path(&name)?;
            match self.load_at(&path, &name) {
                Ok(Some((rec, _))) => out.keys.push(rec.info()),
                // Deleted since it was listed.
                Ok(None) => {}
                Err(error) if error.code() == ErrorCode::Eio => out.damaged.push(DamagedKey {
                    name,
                    record: path.to_string(),
                    error,
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
