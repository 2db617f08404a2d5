//! The cache of decoded key records, so that sign, verify, seal and unseal
//! do not re-read, re-check and re-decode a record on every call.
//!
//! Invariants:
//! - Only a record that passed every check of a read from disk (the
//!   envelope MAC, the state root's generation and digest, the layout and
//!   the record's own invariants) or that this keystore has just written
//!   enters the cache. A record not in the cache is read with all checks.
//! - The keystore's own writes replace or drop the entry of the record
//!   they change before they return, so no operation that starts after a
//!   write returned is served the record as it was before that write.
//! - A read that missed fills the cache only if no write changed the cache
//!   while it was reading (the epoch below), so a read that raced a write
//!   cannot put the older record back.
//! - At most [`RECORD_CACHE_MAX`] records; the least recently used one is
//!   evicted first. Records hold public metadata and wrapped blobs only
//!   (ciphertext), never key material.
//!
//! What this gives up: a record already cached is not read from disk
//! again until it is evicted or the daemon restarts, so a change made to
//! the file behind the daemon's back (an attacker with write access to
//! the state directory) is noticed only then. See
//! docs/security/state-root.md.

use crate::model::{KeyName, KeyRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The most records the cache holds.
pub const RECORD_CACHE_MAX: usize = 1024;

/// What a read that missed must show to fill the cache: the epoch it
/// started in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

struct Slot {
    rec: Arc<KeyRecord>,
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<KeyName, Slot>,
    /// Bumped by every write; a fill from an older epoch is dropped.
    epoch: u64,
    /// Use counter for least-recently-used eviction.
    clock: u64,
}

/// A bounded map from key name to its decoded record.
pub(crate) struct RecordCache {
    inner: Mutex<Inner>,
    max: usize,
}

impl Default for RecordCache {
    fn default() -> Self {
        RecordCache::with_capacity(RECORD_CACHE_MAX)
    }
}

impl RecordCache {
    /// A cache of at most `max` records (0: caches nothing).
    pub(crate) fn with_capacity(max: usize) -> Self {
        RecordCache {
            inner: Mutex::new(Inner::default()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // Something panicked while holding it: trust nothing in it.
                let mut g = poisoned.into_inner();
                g.map.clear();
                g.epoch = g.epoch.wrapping_add(1);
                self.inner.clear_poison();
                g
            }
        }
    }

    /// The cached record of `key`, if any.
    pub(crate) fn get(&self, key: &KeyName) -> Option<Arc<KeyRecord>> {
        let mut g = self.lock();
        g.clock = g.clock.wrapping_add(1);
        let now = g.clock;
        g.map.get_mut(key).map(|s| {
            s.used = now;
            Arc::clone(&s.rec)
        })
    }

    /// Taken before a read from disk that may fill the cache.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().epoch)
    }

    /// Cache `rec`, read from disk with every check, unless a write
    /// happened since `ticket` was taken.
    pub(crate) fn fill(&self, ticket: Ticket, rec: Arc<KeyRecord>) {
        let mut g = self.lock();
        if g.epoch == ticket.0 {
            self.insert(&mut g, rec);
        }
    }

    /// The keystore wrote `rec`: it replaces whatever was cached.
    pub(crate) fn put(&self, rec: KeyRecord) {
        let mut g = self.lock();
        g.epoch = g.epoch.wrapping_add(1);
        self.insert(&mut g, Arc::new(rec));
    }

    /// The keystore removed `key`, or may or may not have changed it.
    pub(crate) fn forget(&self, key: &KeyName) {
        let mut g = self.lock();
        g.epoch = g.epoch.wrapping_add(1);
        g.map.remove(key);
    }

    /// How many records are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn insert(&self, g: &mut Inner, rec: Arc<KeyRecord>) {
        if self.max == 0 {
            return;
        }
        g.clock = g.clock.wrapping_add(1);
        let used = g.clock;
        if !g.map.contains_key(&rec.name) && g.map.len() >= self.max {
            // A linear scan over at most RECORD_CACHE_MAX entries, only
            // when a miss fills a full cache.
            let oldest = g
                .map
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                g.map.remove(&k);
            }
        }
        g.map.insert(rec.name.clone(), Slot { rec, used });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{VersionInfo, VersionRecord, VersionState};
    use keymint::{Algorithm, WrappedKey};

    fn rec(name: &str) -> KeyRecord {
        let key = KeyName::parse("com.example.a", "p", name).unwrap();
        let v1 = VersionRecord {
            info: VersionInfo {
                version: 1,
                state: VersionState::Active,
                created: 0,
                public: None,
                kid: None,
            },
            wrapped: Some(WrappedKey::from_bytes(vec![1, 2, 3])),
            bound_app: None,
        };
        KeyRecord::first(&key, Algorithm::XChaCha20Poly1305, v1)
    }

    #[test]
    fn evicts_the_least_recently_used_at_the_bound() {
        let c = RecordCache::with_capacity(2);
        let (a, b, d) = (rec("a"), rec("b"), rec("d"));
        c.fill(c.ticket(), Arc::new(a.clone()));
        c.fill(c.ticket(), Arc::new(b.clone()));
        assert!(c.get(&a.name).is_some());
        c.fill(c.ticket(), Arc::new(d.clone()));
        assert_eq!(c.len(), 2);
        assert!(c.get(&b.name).is_none(), "b was used least recently");
        assert!(c.get(&a.name).is_some());
        assert!(c.get(&d.name).is_some());
    }

    #[test]
    fn test_reject_a_fill_that_raced_a_write() {
        let c = RecordCache::default();
        let old = rec("a");
        let ticket = c.ticket();
        let mut new = old.clone();
        new.primary = 2;
        c.put(new.clone());
        c.fill(ticket, Arc::new(old.clone()));
        assert_eq!(c.get(&old.name).map(|r| r.primary), Some(2));
        let ticket = c.ticket();
        c.forget(&old.name);
        c.fill(ticket, Arc::new(old.clone()));
        assert!(c.get(&old.name).is_none());
    }
}
