//! The move out of the once-shared `system` key namespace.
//!
//! Until record version 2, every system subject used one key namespace,
//! `system`: any of them could sign with, revoke or rotate any other's
//! keys, attestd's device key included. Now each system service owns
//! `system.<name>` (`Subject::key_namespace`) and `system` belongs to no
//! one. [`KeyStore::upgrade_shared_system_namespace`] (keystored runs it at
//! every start; it does nothing once `system` is empty) moves each key
//! found there to its owner:
//!
//! - purpose `device-attest` → `system.attestd` (only attestd ever made or
//!   used keys of that purpose);
//! - purpose `selftest` → `system.selftest` (the OS selftest's keys: its
//!   per-run keys and the one its persistence check keeps across boots);
//! - every other key → `system.admin`, the administrator, who could use
//!   all of them before (nothing records which subject made a key).
//!
//! keymint binds a key's wrapping and everything sealed under it to the
//! key's identity, namespace included, so the material is not re-wrapped:
//! each moved version keeps `bound_app = system` in its record and is used
//! under that identity from then on (same material, same kid, old sealed
//! data still opens, old signatures still verify). Versions made after the
//! move are bound to the new namespace.
//!
//! Invariants:
//! - Crash-safe and repeatable: the new record is written before the old
//!   one is removed; a later run that finds the same record already at the
//!   new place only removes the old one.
//! - Nothing is overwritten: a different key already at the new place, a
//!   damaged record, or a record the move cannot read stays where it is,
//!   and is reported. Readable-but-stayed keys remain visible to system
//!   subjects' reads and unusable to everyone.

use crate::error::KeystoreError;
use crate::model::{KeyName, KeyRecord};
use crate::record;
use crate::store::KeyStore;
use nexus_core::{AppId, Label};

/// The purpose of attestd's device attestation keys.
pub const DEVICE_ATTEST_PURPOSE: &str = "device-attest";
/// The service that owns keys of [`DEVICE_ATTEST_PURPOSE`].
pub const DEVICE_ATTEST_OWNER: &str = "attestd";
/// The purpose of the OS selftest's keys.
pub const SELFTEST_PURPOSE: &str = "selftest";
/// The service that owns keys of [`SELFTEST_PURPOSE`].
pub const SELFTEST_OWNER: &str = "selftest";
/// The system subject that gets every other key of the shared namespace.
pub const SHARED_KEYS_OWNER: &str = "admin";

/// One key moved out of `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Its old name (`system/…`).
    pub from: KeyName,
    /// Its new name (`system.<owner>/…`).
    pub to: KeyName,
}

/// One key left in `system`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stayed {
    /// Its name.
    pub name: KeyName,
    /// Its record (`state:/keystore/system/…`).
    pub record: String,
    /// Why it was not moved.
    pub reason: String,
}

/// What one run of the upgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedNamespaceUpgrade {
    /// Keys moved, in path order.
    pub moved: Vec<Moved>,
    /// Keys left behind.
    pub stayed: Vec<Stayed>,
}

/// The namespace a key of the shared namespace moves to.
pub fn shared_key_owner(purpose: &Label) -> Result<AppId, KeystoreError> {
    let owner = match purpose.as_str() {
        DEVICE_ATTEST_PURPOSE => DEVICE_ATTEST_OWNER,
        SELFTEST_PURPOSE => SELFTEST_OWNER,
        _ => SHARED_KEYS_OWNER,
    };
    Label::new(owner)
        .ok()
        .and_then(|l| AppId::service(&l))
        .ok_or(KeystoreError::Invalid("no namespace for the owner"))
}

/// `rec` renamed to `to`, each version still bound to where it was made.
fn rebound(mut rec: KeyRecord, to: &KeyName) -> KeyRecord {
    for v in &mut rec.versions {
        if v.bound_app.is_none() {
            v.bound_app = Some(rec.name.app.clone());
        }
    }
    rec.name = to.clone();
    rec
}

impl KeyStore {
    /// Move every key of the shared `system` namespace to its owner (see
    /// the module docs). Storage failures stop the run (what moved stays
    /// moved; the next run continues); a key that cannot move is reported
    /// in [`SharedNamespaceUpgrade::stayed`].
    pub fn upgrade_shared_system_namespace(&self) -> Result<SharedNamespaceUpgrade, KeystoreError> {
        let mut out = SharedNamespaceUpgrade::default();
        let mut table = self.lock();
        for path in self.state.list(&record::app_prefix(&AppId::system())?)? {
            let Some(from) = record::name_of(&path).filter(|k| k.app.is_system()) else {
                continue;
            };
            let stay = |reason: String| Stayed {
                name: from.clone(),
                record: path.to_string(),
                reason,
            };
            let rec = match self.load_at(&path, &from) {
                Ok(Some((rec, _))) => rec,
                Ok(None) => continue,
                Err(e) => {
                    out.stayed.push(stay(e.to_string()));
                    continue;
                }
            };
            let to = KeyName::new(
                shared_key_owner(&from.purpose)?,
                from.purpose.clone(),
                from.name.clone(),
            );
            let moved = rebound(rec, &to);
            match self.load_at(&record::key_path(&to)?, &to) {
                // An earlier run wrote it and stopped before the removal.
                Ok(Some((there, _))) if there == moved => {}
                Ok(Some(_)) => {
                    out.stayed.push(stay(format!("another key {to} exists")));
                    continue;
                }
                Ok(None) => {
                    table.remove(&to.app);
                    self.store(&moved)?;
                }
                Err(e) => {
                    out.stayed
                        .push(stay(format!("its new place is damaged: {e}")));
                    continue;
                }
            }
            table.remove(&from.app);
            let deleted = self.state.delete(&path);
            self.cache.forget(&from);
            deleted?;
            out.moved.push(Moved { from, to });
        }
        Ok(out)
    }
}
