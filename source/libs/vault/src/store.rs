//! The vault service: put/get/del/list scoped to (session, app), and the
//! purge of a deleted user instance's vault.
//!
//! Invariants:
//! - The app namespace is the caller's [`Subject::app_namespace`], never a
//!   request field; an app sees only its own entries and names.
//! - The vault is the one of the user instance whose key keymint holds for
//!   the session, checked before any lookup: a known locked session is
//!   `ELOCKED` and an unknown or ended one `EPERM` "no such session", so
//!   neither can ever read as "not found".
//! - Every operation is authorized (`identity.vault.use`) first.
//! - A vault.kv that fails its checks is `EIO` for every operation of that
//!   instance (reads and writes): a failed load is never cached and never
//!   treated as an empty vault, so the damaged file is not overwritten.
//! - A write changes the cache only if the sealed vault reached the disk
//!   (statefs: temp file, fsync, rename, fsync dir); on failure the cache
//!   is rolled back, so memory and disk agree.
//! - Everything is keyed by the user instance (file, AAD, cache), never by
//!   the name: a user deleted and created again shares nothing with its
//!   predecessor. The name-bound file of the first format is read only for
//!   an instance upgraded from it (`legacy`), and replaced by the
//!   instance's own file at its first write.
//!
//! Cache: one decrypted [`Entries`] per instance, kept while at least one
//! of its sessions is unsealed and has used the vault. It is dropped
//! (values and names zeroized) when the last such session is locked or
//! ended ([`SessionObserver`]), found sealed on the next operation, or the
//! instance is purged. One `Vault` must own a state directory's vaults (it
//! is the only writer).
//!
//! An operation asks keymint one question ([`VaultKeyOps::session_check`]):
//! whether `sid` is an unsealed session and whose, and which of the other
//! sessions in the instance's set still are. Nothing is served to a
//! session that answer does not call active. The answer "active" is kept
//! with the session table's stamp it came with ([`keymint::SessionStamp`]),
//! and the next operation of the same session skips the question only if
//! the stamp keymint shows now ([`VaultKeyOps::session_stamp`], no round
//! trip) is still that one: keymint changes its stamp with every change
//! of its session table (lock, logout, user deletion, sync, restart)
//! before it acknowledges the change, so a session locked or ended is
//! asked about again, and refused, from the moment its lock or logout
//! returned.

use crate::error::QuotaScope;
use crate::error::VaultError;
use crate::format::{aad, aad_name, Entries, MAGIC, VERSION, VERSION_NAME};
use crate::limits::{check, check_name, check_value, QuotaWarning, VaultLimits};
use identity::{IdentityError, SessionObserver, VaultPurge};
use keymint::{KeyMintError, SessionLookup, SessionStamp, VaultKeyOps, VaultOwner};
use nexus_core::{
    AppId, Authorizer, Capability, Coded, ErrorCode, InstanceId, QuotaLimits, SessionId, Subject,
    UserId,
};
use statefs::{StateFs, StatePath};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use zeroize::Zeroizing;

/// `state:/vault/<instance>/vault.kv`.
pub fn vault_path(instance: &InstanceId) -> Result<StatePath, VaultError> {
    Ok(
        StatePath::from_segments(["vault", &instance.to_string(), "vault.kv"])
            .map_err(statefs::StateError::from)?,
    )
}

/// `state:/identity/<user>/vault.kv`: the name-bound file of the first
/// format.
pub fn legacy_vault_path(user: &UserId) -> Result<StatePath, VaultError> {
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
    /// The cache came from the name-bound file, which goes once the
    /// instance's own file is written.
    from_legacy: bool,
    /// The instance was purged: nothing may be loaded or written through
    /// this slot again.
    purged: bool,
}

/// The per-user vaults over one state store.
pub struct Vault {
    state: StateFs,
    keys: Arc<dyn VaultKeyOps>,
    authz: Arc<dyn Authorizer>,
    limits: VaultLimits,
    slots: Mutex<HashMap<InstanceId, Arc<Mutex<Slot>>>>,
    /// Sessions keymint called active, with the stamp of that answer.
    fresh: Mutex<HashMap<SessionId, (VaultOwner, SessionStamp)>>,
}

/// Most sessions remembered as active at once; past it the memory is
/// cleared (each session is then asked about once more).
const MAX_FRESH: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent before anything
    // that can fail runs (writes roll back before returning), so a
    // poisoned lock holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A keymint failure: an unsealed key that is gone is "locked"; keymintd
/// unavailable or busy keeps its own code.
fn keymint_err(e: KeyMintError) -> VaultError {
    match e {
        KeyMintError::Locked => VaultError::Locked,
        e => VaultError::KeyMint(e),
    }
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
            fresh: Mutex::new(HashMap::new()),
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
    /// limits stay the configured ones. One pass under the instance's
    /// lock: no separate measuring round that could race with another put.
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
        self.with_entries(sid, |slot, owner| {
            let entries = loaded(slot)?;
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
            if let Err(e) = self.persist(sid, owner, slot) {
                let entries = loaded(slot)?;
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
        self.with_entries(sid, |slot, _| {
            loaded(slot)?
                .get(&app, name)
                .map(|v| Zeroizing::new(v.to_vec()))
                .ok_or_else(|| not_found(name))
        })
    }

    /// Delete `name` from the caller's namespace.
    pub fn delete(&self, caller: &Subject, sid: SessionId, name: &str) -> Result<(), VaultError> {
        let app = self.authorize(caller)?;
        check_name(name).map_err(VaultError::Invalid)?;
        self.with_entries(sid, |slot, owner| {
            let old = loaded(slot)?
                .remove(&app, name)
                .ok_or_else(|| not_found(name))?;
            if let Err(e) = self.persist(sid, owner, slot) {
                loaded(slot)?.insert(&app, name, old);
                return Err(e);
            }
            Ok(())
        })
    }

    /// The caller's entry names, sorted.
    pub fn list(&self, caller: &Subject, sid: SessionId) -> Result<Vec<String>, VaultError> {
        let app = self.authorize(caller)?;
        self.with_entries(sid, |slot, _| Ok(loaded(slot)?.names(&app)))
    }

    /// Destroy `instance`'s vault: drop (zeroize) its decrypted copy, make
    /// any operation still holding it fail, and delete its file (and, for
    /// an instance upgraded from the first format, the name-bound file of
    /// `legacy_user`). Idempotent. The caller ends the instance's sessions
    /// in keymint first, so nothing can load the vault again.
    pub fn purge(
        &self,
        instance: InstanceId,
        legacy_user: Option<&UserId>,
    ) -> Result<(), VaultError> {
        lock(&self.fresh).retain(|_, (owner, _)| owner.instance != instance);
        let slot = lock(&self.slots).remove(&instance);
        if let Some(slot) = slot {
            let mut slot = lock(&slot);
            slot.purged = true;
            slot.cache = None;
            slot.sids.clear();
        }
        self.state.delete(&vault_path(&instance)?)?;
        if let Some(user) = legacy_user {
            self.state.delete(&legacy_vault_path(user)?)?;
        }
        Ok(())
    }

    fn authorize(&self, caller: &Subject) -> Result<AppId, VaultError> {
        let app = caller.app_namespace();
        self.authz
            .authorize(caller, Capability::VaultUse, &format!("vault:{app}"))?;
        Ok(app)
    }

    /// The other sessions that used the vault of the instance `sid` last
    /// used (none if it has not used one yet), to ask keymint about with
    /// `sid`.
    fn known_sessions(&self, sid: SessionId) -> Vec<SessionId> {
        let slots: Vec<_> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            let slot = lock(&slot);
            if slot.sids.contains(&sid) {
                return slot.sids.iter().filter(|s| **s != sid).copied().collect();
            }
        }
        Vec::new()
    }

    /// The owner of `sid` if keymint called it active with the stamp it
    /// shows now: nothing in its session table has changed since.
    fn still_active(&self, sid: SessionId) -> Option<VaultOwner> {
        let now = self.keys.session_stamp()?;
        let fresh = lock(&self.fresh);
        let (owner, stamp) = fresh.get(&sid)?;
        (*stamp == now).then(|| owner.clone())
    }

    /// Remember that keymint called `sid` active with `stamp`.
    fn remember_active(&self, sid: SessionId, owner: &VaultOwner, stamp: SessionStamp) {
        let mut fresh = lock(&self.fresh);
        // Older stamps can never be shown again: their entries are dead.
        fresh.retain(|_, (_, s)| *s == stamp);
        if fresh.len() >= MAX_FRESH {
            fresh.clear();
        }
        fresh.insert(sid, (owner.clone(), stamp));
    }

    /// Ask keymint about `sid` and which of the other sessions that used
    /// its vault are still unsealed (they keep the cache): the owner, and
    /// the others asked about with the live ones among them.
    fn ask(
        &self,
        sid: SessionId,
    ) -> Result<(VaultOwner, Vec<SessionId>, Vec<SessionId>), VaultError> {
        let others = self.known_sessions(sid);
        let (lookup, alive, stamp) = self
            .keys
            .session_check_stamped(sid, &others)
            .map_err(keymint_err)?;
        match lookup {
            SessionLookup::Active(owner) => {
                if let Some(stamp) = stamp {
                    self.remember_active(sid, &owner, stamp);
                }
                Ok((owner, others, alive))
            }
            SessionLookup::Locked => {
                self.session_sealed(sid);
                Err(VaultError::Locked)
            }
            SessionLookup::Unknown => {
                self.session_sealed(sid);
                Err(VaultError::NoSuchSession)
            }
        }
    }

    /// Run `f` on the slot of `sid`'s instance, with its vault loaded.
    fn with_entries<T>(
        &self,
        sid: SessionId,
        f: impl FnOnce(&mut Slot, &VaultOwner) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let (owner, asked) = match self.still_active(sid) {
            Some(owner) => (owner, None),
            None => {
                let (owner, others, alive) = self.ask(sid)?;
                (owner, Some((others, alive)))
            }
        };
        let slot = Arc::clone(lock(&self.slots).entry(owner.instance).or_default());
        let mut slot = lock(&slot);
        if slot.purged {
            return Err(VaultError::NoSuchSession);
        }
        // Sessions sealed without an observer call (keymint answered that
        // they are no longer unsealed sessions of this instance) drop out
        // here; `sid` itself was found active by the same answer. A
        // session that joined the slot after the question was asked is
        // kept: it was active when it joined, and its own next operation
        // checks it again.
        if let Some((others, alive)) = asked {
            slot.sids
                .retain(|s| !others.contains(s) || alive.contains(s));
        }
        slot.sids.insert(sid);
        if slot.cache.is_none() {
            let (entries, from_legacy) = self.load(sid, &owner)?;
            slot.cache = Some(entries);
            slot.from_legacy = from_legacy;
        }
        f(&mut slot, &owner)
    }

    /// The instance's vault, or (an upgraded instance without a file of
    /// its own yet) the name-bound one; whether it was the latter.
    fn load(&self, sid: SessionId, owner: &VaultOwner) -> Result<(Entries, bool), VaultError> {
        let own = vault_path(&owner.instance)?;
        if let Some((_, sealed)) = self.state.read_record(&own, MAGIC, &[VERSION])? {
            return Ok((self.open(sid, &own, &aad(&owner.instance), &sealed)?, false));
        }
        if owner.legacy {
            let old = legacy_vault_path(&owner.user)?;
            if let Some((_, sealed)) = self.state.read_record(&old, MAGIC, &[VERSION_NAME])? {
                return Ok((self.open(sid, &old, &aad_name(&owner.user), &sealed)?, true));
            }
        }
        Ok((Entries::default(), false))
    }

    fn open(
        &self,
        sid: SessionId,
        path: &StatePath,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Entries, VaultError> {
        let corrupt = |reason| VaultError::Corrupt {
            path: path.to_string(),
            reason,
        };
        let pt = match self.keys.vault_unseal(sid, aad, sealed) {
            Ok(pt) => pt,
            Err(KeyMintError::Locked) => return Err(VaultError::Locked),
            // keymintd could not be asked: its code, not "corrupt".
            Err(e @ KeyMintError::Unavailable) => return Err(VaultError::KeyMint(e)),
            Err(e @ KeyMintError::Remote { .. }) if e.code() != ErrorCode::Eio => {
                return Err(VaultError::KeyMint(e))
            }
            Err(_) => return Err(corrupt("authentication failed")),
        };
        Entries::decode(&pt).map_err(corrupt)
    }

    fn persist(
        &self,
        sid: SessionId,
        owner: &VaultOwner,
        slot: &mut Slot,
    ) -> Result<(), VaultError> {
        let path = vault_path(&owner.instance)?;
        let pt = loaded(slot)?.encode().map_err(VaultError::Invalid)?;
        nexus_proto::limits::VAULT_FILE
            .check("the encoded vault", pt.len())
            .map_err(VaultError::Full)?;
        let sealed = match self.keys.vault_seal(sid, &aad(&owner.instance), &pt) {
            Ok(s) => s,
            Err(KeyMintError::Locked) => return Err(VaultError::Locked),
            Err(e @ KeyMintError::Unavailable) => return Err(VaultError::KeyMint(e)),
            Err(e @ KeyMintError::Remote { .. }) if e.code() != ErrorCode::Eio => {
                return Err(VaultError::KeyMint(e))
            }
            Err(_) => return Err(VaultError::Seal),
        };
        self.state.write_record(&path, MAGIC, VERSION, &sealed)?;
        if slot.from_legacy {
            // The instance's own file is durable: the name-bound one goes.
            // If that fails it is retried at the next write (the own file
            // is read first, and a purge removes both).
            match self.state.delete(&legacy_vault_path(&owner.user)?) {
                Ok(_) => slot.from_legacy = false,
                Err(e) => eprintln!("vault: cannot remove the first-format vault: {e}"),
            }
        }
        Ok(())
    }
}

fn loaded(slot: &mut Slot) -> Result<&mut Entries, VaultError> {
    slot.cache.as_mut().ok_or(VaultError::NoSuchSession)
}

fn not_found(name: &str) -> VaultError {
    VaultError::NotFound {
        name: name.to_owned(),
    }
}

impl SessionObserver for Vault {
    /// Forget `sid`; drop (zeroize) an instance's cache once no session of
    /// it that used it remains unsealed.
    fn session_sealed(&self, sid: SessionId) {
        lock(&self.fresh).remove(&sid);
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

impl VaultPurge for Vault {
    fn purge(
        &self,
        instance: InstanceId,
        legacy_user: Option<&UserId>,
    ) -> Result<(), IdentityError> {
        Vault::purge(self, instance, legacy_user).map_err(|e| IdentityError::Purge {
            code: e.code(),
            msg: e.to_string(),
        })
    }
}
