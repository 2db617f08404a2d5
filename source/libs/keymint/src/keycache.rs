//! The cache of unwrapped, ready-to-use keys: so that a sign does not
//! derive the wrapping key, open the blob and rebuild the signing key (a
//! scalar multiplication as costly as the sign itself) every time.
//!
//! Invariants:
//! - An entry is keyed by SHA-256 over the key identity's canonical
//!   encoding and the wrapped blob, and made only from a blob that opened
//!   under exactly that identity. A hit therefore gives what unwrapping
//!   that blob under that identity gives, nothing else: two namespaces (or
//!   purposes, names, versions, algorithms) never share an entry, even for
//!   keys of the same name or a blob copied between them.
//! - At most [`KEY_CACHE_MAX`] entries; the least recently used goes first.
//!   Keys are zeroized when their entry is dropped (evicted, forgotten, or
//!   the engine dropped): an [`ed25519_dalek::SigningKey`] zeroizes itself
//!   (the crate's `zeroize` feature), data keys are [`Zeroizing`]. A caller
//!   still using a key it got just before holds its own reference, dropped
//!   (and zeroized) when the operation ends.
//! - [`KeyCache::forget`] drops every entry of a key (any version and
//!   algorithm): the keystore calls it when it revokes, retires or deletes
//!   versions of that key.
//! - Session-bound vault keys are not here: they live in the session table
//!   (`session.rs`), which drops them on lock, logout and user deletion.

use crate::identity::KeyIdentity;
use ed25519_dalek::SigningKey;
use nexus_core::{AppId, Label};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use zeroize::Zeroizing;

/// The most unwrapped keys keymint keeps.
pub const KEY_CACHE_MAX: usize = 1024;

/// A key ready to use. No Debug, no Clone; zeroized on drop.
pub(crate) enum Ready {
    /// An Ed25519 signing key with its public half computed.
    Signing(SigningKey),
    /// An XChaCha20-Poly1305 data key.
    Data(Zeroizing<[u8; 32]>),
}

/// The cache key: SHA-256(identity encoding | blob). Not secret (both
/// inputs are public ciphertext and names).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Slot([u8; 32]);

impl Slot {
    pub(crate) fn of(id: &KeyIdentity, blob: &[u8]) -> Slot {
        let mut h = Sha256::new();
        let ident = id.encode();
        h.update((ident.len() as u64).to_be_bytes());
        h.update(&ident);
        h.update(blob);
        Slot(h.finalize().into())
    }
}

struct Entry {
    key: Arc<Ready>,
    /// Which key it belongs to, for [`KeyCache::forget`].
    owner: (AppId, Label, Label),
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Slot, Entry>,
    clock: u64,
}

/// The bounded cache.
pub(crate) struct KeyCache {
    inner: Mutex<Inner>,
    max: usize,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::with_capacity(KEY_CACHE_MAX)
    }
}

impl KeyCache {
    pub(crate) fn with_capacity(max: usize) -> Self {
        KeyCache {
            inner: Mutex::new(Inner::default()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // A panic while holding it: drop (and zeroize) everything.
                let mut g = poisoned.into_inner();
                g.map.clear();
                self.inner.clear_poison();
                g
            }
        }
    }

    pub(crate) fn get(&self, slot: &Slot) -> Option<Arc<Ready>> {
        let mut g = self.lock();
        g.clock = g.clock.wrapping_add(1);
        let now = g.clock;
        g.map.get_mut(slot).map(|e| {
            e.used = now;
            Arc::clone(&e.key)
        })
    }

    pub(crate) fn insert(&self, slot: Slot, id: &KeyIdentity, key: Arc<Ready>) {
        if self.max == 0 {
            return;
        }
        let mut g = self.lock();
        g.clock = g.clock.wrapping_add(1);
        let used = g.clock;
        if !g.map.contains_key(&slot) && g.map.len() >= self.max {
            // Linear over at most KEY_CACHE_MAX entries, only when a miss
            // fills a full cache.
            let oldest = g.map.iter().min_by_key(|(_, e)| e.used).map(|(s, _)| *s);
            if let Some(s) = oldest {
                g.map.remove(&s);
            }
        }
        let owner = (id.app.clone(), id.purpose.clone(), id.name.clone());
        g.map.insert(slot, Entry { key, owner, used });
    }

    /// Drop every entry of the key `app/purpose/name`; how many.
    pub(crate) fn forget(&self, app: &AppId, purpose: &Label, name: &Label) -> usize {
        let mut g = self.lock();
        let before = g.map.len();
        g.map
            .retain(|_, e| !(&e.owner.0 == app && &e.owner.1 == purpose && &e.owner.2 == name));
        before - g.map.len()
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }
}
