//! The vault service: put/get/del/list scoped to (session, app).
//!
//! Invariants:
//! - The app namespace is the caller's [`Subject::app_namespace`], never a
//!   request field; an app sees only its own entries and names.
//! - The user is the one whose key keymint holds for the session: a
//!   locked, ended, unknown or never-unsealed session is `ELOCKED`, checked
//!   before any lookup, so it can never read as "not found".
//! - Every operation is authorized (`identity.vault.use`) first.
//! - A vault.kv that fails its checks is `EIO` for every operation of that
//!   user (reads and writes): a failed load is never cached and never
//!   treated as an empty vault, so the damaged file is not overwritten.
//! - A write changes the cache only if the sealed vault reached the disk
//!   (statefs: temp file, fsync, rename, fsync dir); on failure the cache
//!   is rolled back, so memory and disk agree.
//!
//! Cache: one decrypted [`Entries`] per user, kept while at least one of
//! that user's sessions is unsealed and has used the vault. It is dropped
//! (values and names zeroized) when the last such session is locked or
//! ended ([`SessionObserver`]), or found sealed on the next operation.
//! One `Vault` must own a state directory's vaults (it is the only writer).

use crate::error::QuotaScope;
use crate::error::VaultError;
use crate::format::{aad, Entries, MAGIC, VERSION};
use crate::limits::{check, check_name, check_value, QuotaWarning, VaultLimits};
use identity::SessionObserver;
use keymint::{KeyMintError, VaultKeyOps};
use nexus_core::{AppId, Authorizer, Capability, QuotaLimits, SessionId, Subject, UserId};
use statefs::{StateFs, StatePath};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use zeroize::Zeroizing;

/// `state:/identity/<user>/vault.kv`.
pub fn vault_path(user: &UserId) -> Result<StatePath, VaultError> {
    Ok(
        StatePath::from_segments(["identity", user.as_str(), "vault.kv"])
            .map_err(statefs::StateError::from)?,
    )
}

/// What a successful put reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// Soft limits this write went past (empty: none).
    pub warnings: Vec<QuotaWarning>,
}

#[derive(Default)]
struct Slot {
    cache: Option<Entries>,
    sids: HashSet<SessionId>,
}

/// The per-user vaults over one state store.
pub struct Vault {
    state: StateFs,
    keys: Arc<dyn VaultKeyOps>,
    authz: Arc<dyn Authorizer>,
    limits: VaultLimits,
    slots: Mutex<HashMap<UserId, Arc<Mutex<Slot>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent before anything
    // that can fail runs (writes roll back before returning), so a
    // poisoned lock holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Vault {
    /// The vault over `state`, sealing through `keys` (keymint).
    pub fn new(
        state: StateFs,
        keys: Arc<dyn VaultKeyOps>,
        authz: Arc<dyn Authorizer>,
        limits: VaultLimits,
    ) -> Self {
        Vault {
            state,
            keys,
            authz,
            limits,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Store `value` under `name` in the caller's namespace, within the
    /// configured per-app limits.
    pub fn put(
        &self,
        caller: &Subject,
        sid: SessionId,
        name: &str,
        value: &[u8],
    ) -> Result<PutOutcome, VaultError> {
        let per_app = self.limits.per_app;
        self.put_with_app_limits(caller, sid, name, value, &per_app)
    }

    /// [`Vault::put`] with the caller's per-app limits given by the caller
    /// (a daemon that takes them per subject from its policy). The per-user
    /// limits stay the configured ones. One pass under the user's lock: no
    /// separate measuring round that could race with another put.
    pub fn put_with_app_limits(
        &self,
        caller: &Subject,
        sid: SessionId,
        name: &str,
        value: &[u8],
        per_app: &QuotaLimits,
    ) -> Result<PutOutcome, VaultError> {
        let app = self.authorize(caller)?;
        check_name(name).map_err(VaultError::Invalid)?;
        check_value(value).map_err(VaultError::Invalid)?;
        self.with_entries(sid, |user, entries| {
            let mut warnings = Vec::new();
            let (mut app_after, mut user_after) = (entries.app_usage(&app), entries.total());
            let add = (name.len() + value.len()) as u64;
            let old = entries
                .get(&app, name)
                .map(|v| (name.len() + v.len()) as u64);
            for u in [&mut app_after, &mut user_after] {
                match old {
                    Some(o) => u.bytes = u.bytes.saturating_sub(o),
                    None => u.entries += 1,
                }
                u.bytes += add;
            }
            check(QuotaScope::App, app_after, per_app, &mut warnings)?;
            check(
                QuotaScope::User,
                user_after,
                &self.limits.per_user,
                &mut warnings,
            )?;
            let previous = entries.insert(&app, name, Zeroizing::new(value.to_vec()));
            if let Err(e) = self.persist(sid, user, entries) {
                match previous {
                    Some(v) => entries.insert(&app, name, v),
                    None => entries.remove(&app, name),
                };
                return Err(e);
            }
            Ok(PutOutcome { warnings })
        })
    }

    /// The value of `name` in the caller's namespace.
    pub fn get(
        &self,
        caller: &Subject,
        sid: SessionId,
        name: &str,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let app = self.authorize(caller)?;
        check_name(name).map_err(VaultError::Invalid)?;
        self.with_entries(sid, |_, entries| {
            entries
                .get(&app, name)
                .map(|v| Zeroizing::new(v.to_vec()))
                .ok_or(VaultError::NotFound)
        })
    }

    /// Delete `name` from the caller's namespace.
    pub fn delete(&self, caller: &Subject, sid: SessionId, name: &str) -> Result<(), VaultError> {
        let app = self.authorize(caller)?;
        check_name(name).map_err(VaultError::Invalid)?;
        self.with_entries(sid, |user, entries| {
            let old = entries.remove(&app, name).ok_or(VaultError::NotFound)?;
            if let Err(e) = self.persist(sid, user, entries) {
                entries.insert(&app, name, old);
                return Err(e);
            }
            Ok(())
        })
    }

    /// The caller's entry names, sorted.
    pub fn list(&self, caller: &Subject, sid: SessionId) -> Result<Vec<String>, VaultError> {
        let app = self.authorize(caller)?;
        self.with_entries(sid, |_, entries| Ok(entries.names(&app)))
    }

    fn authorize(&self, caller: &Subject) -> Result<AppId, VaultError> {
        let app = caller.app_namespace();
        self.authz
            .authorize(caller, Capability::VaultUse, &format!("vault:{app}"))?;
        Ok(app)
    }

    /// Run `f` on the decrypted vault of `sid`'s user, loading it if needed.
    fn with_entries<T>(
        &self,
        sid: SessionId,
        f: impl FnOnce(&UserId, &mut Entries) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let Some(user) = self.keys.session_user(sid).map_err(VaultError::KeyMint)? else {
            self.session_sealed(sid);
            return Err(VaultError::Locked);
        };
        let slot = Arc::clone(lock(&self.slots).entry(user.clone()).or_default());
        let mut slot = lock(&slot);
        // Re-checked under the slot lock: a session sealed from here on
        // reaches `session_sealed` only after this operation. Sessions
        // sealed without an observer call drop out here too.
        let keys = &self.keys;
        slot.sids.insert(sid);
        slot.sids.retain(|s| {
            keys.session_user(*s)
                .map_or(true, |u| u.as_ref() == Some(&user))
        });
        if !slot.sids.contains(&sid) {
            if slot.sids.is_empty() {
                slot.cache = None;
            }
            return Err(VaultError::Locked);
        }
        let slot = &mut *slot;
        let entries = match &mut slot.cache {
            Some(e) => e,
            None => slot.cache.insert(self.load(sid, &user)?),
        };
        f(&user, entries)
    }

    fn load(&self, sid: SessionId, user: &UserId) -> Result<Entries, VaultError> {
        let path = vault_path(user)?;
        let Some((_, sealed)) = self.state.read_record(&path, MAGIC, &[VERSION])? else {
            return Ok(Entries::default());
        };
        let corrupt = |reason| VaultError::Corrupt {
            path: path.to_string(),
            reason,
        };
        let pt = match self.keys.vault_unseal(sid, &aad(user), &sealed) {
            Ok(pt) => pt,
            Err(KeyMintError::Locked) => return Err(VaultError::Locked),
            Err(e @ KeyMintError::Unavailable) => return Err(VaultError::KeyMint(e)),
            Err(_) => return Err(corrupt("authentication failed")),
        };
        Entries::decode(&pt).map_err(corrupt)
    }

    fn persist(&self, sid: SessionId, user: &UserId, entries: &Entries) -> Result<(), VaultError> {
        let path = vault_path(user)?;
        let pt = entries.encode().map_err(VaultError::Invalid)?;
        nexus_proto::limits::VAULT_FILE
            .check("the encoded vault", pt.len())
            .map_err(VaultError::Full)?;
        let sealed = match self.keys.vault_seal(sid, &aad(user), &pt) {
            Ok(s) => s,
            Err(KeyMintError::Locked) => return Err(VaultError::Locked),
            Err(e @ KeyMintError::Unavailable) => return Err(VaultError::KeyMint(e)),
            Err(_) => return Err(VaultError::Seal),
        };
        self.state.write_record(&path, MAGIC, VERSION, &sealed)?;
        Ok(())
    }
}

impl SessionObserver for Vault {
    /// Forget `sid`; drop (zeroize) a user's cache once no session of
    /// theirs that used it remains unsealed.
    fn session_sealed(&self, sid: SessionId) {
        let slots: Vec<_> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            let mut slot = lock(&slot);
            slot.sids.remove(&sid);
            if slot.sids.is_empty() {
                slot.cache = None;
            }
        }
    }
}
