//! The store: construction, record loading and the lifecycle operations
//! (create, rotate, revoke, retire, list, describe, usage).
//!
//! Concurrency: [`KeyStore`] is `Send + Sync` and shared by connection
//! threads. Every operation that writes a record holds one internal mutex
//! (which also guards the per-app usage figures) across read, change,
//! quota check and atomic write, so writers never lose each other's
//! updates. Reads (describe, sign, verify, seal, unseal, export) take no
//! lock: statefs writes are atomic renames, so a reader sees a whole old
//! record or a whole new one; an operation that read a record just before
//! a revoke completes is ordered before that revoke.
//!
//! Reads go through the record cache ([`crate::cache`]); every write here
//! updates or drops the cached entry before it returns.

use crate::access;
use crate::cache::RecordCache;
use crate::error::KeystoreError;
use crate::model::{
    KeyInfo, KeyName, KeyRecord, KeyState, Outcome, RevokeScope, VersionInfo, VersionRecord,
    VersionState,
};
use crate::publics::PublicKeys;
use crate::quota::{self, QuotaResource, QuotaSource, Usage};
use crate::record::{self, RECORD_MAGIC, RECORD_VERSION};
use crate::MAX_VERSIONS;
use keymint::{Algorithm, GeneratedKey, KeyOps};
use nexus_core::{AppId, Authorizer, Capability, Clock, QuotaLimits, Subject};
use statefs::{StateFs, StateMode, StatePath};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The keystore over one statefs and one keymint.
pub struct KeyStore {
    pub(crate) state: StateFs,
    pub(crate) ops: Arc<dyn KeyOps>,
    clock: Arc<dyn Clock>,
    quota: Arc<dyn QuotaSource>,
    /// Per-app usage, computed from disk on first need and kept in step
    /// by every write. Also the writers' lock.
    usage: Mutex<HashMap<AppId, Usage>>,
    /// Decoded records that passed every check, kept in step by every
    /// write.
    pub(crate) cache: RecordCache,
    /// Stored public keys, parsed and checked once.
    pub(crate) publics: PublicKeys,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStore({})", self.state.mode())
    }
}

impl KeyStore {
    /// A keystore keeping records in `state`, using `ops` for every
    /// private operation, `clock` for timestamps and `quota` for limits.
    pub fn new(
        state: StateFs,
        ops: Arc<dyn KeyOps>,
        clock: Arc<dyn Clock>,
        quota: Arc<dyn QuotaSource>,
    ) -> Self {
        KeyStore {
            state,
            ops,
            clock,
            quota,
            usage: Mutex::new(HashMap::new()),
            cache: RecordCache::default(),
            publics: PublicKeys::default(),
        }
    }

    /// [`KeyStore::new`] with a record cache of at most `max` records
    /// (0: every read goes to disk).
    pub fn with_record_cache(
        state: StateFs,
        ops: Arc<dyn KeyOps>,
        clock: Arc<dyn Clock>,
        quota: Arc<dyn QuotaSource>,
        max: usize,
    ) -> Self {
        KeyStore {
            cache: RecordCache::with_capacity(max),
            ..KeyStore::new(state, ops, clock, quota)
        }
    }

    /// True when records live only in memory (no state directory): keys
    /// do not survive a restart, and the daemon must say so.
    pub fn is_volatile(&self) -> bool {
        self.state.is_volatile()
    }

    /// Where records live.
    pub fn mode(&self) -> StateMode {
        self.state.mode()
    }

    /// True when keymint runs on the insecure deterministic generator.
    pub fn is_insecure(&self) -> bool {
        self.ops.is_insecure()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<AppId, Usage>> {
        match self.usage.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // A writer panicked mid-update: the figures may be stale,
                // so forget them and recount from disk on next use.
                let mut g = poisoned.into_inner();
                g.clear();
                self.usage.clear_poison();
                g
            }
        }
    }

    pub(crate) fn usage_of(
        &self,
        table: &mut HashMap<AppId, Usage>,
        app: &AppId,
    ) -> Result<Usage, KeystoreError> {
        if let Some(u) = table.get(app) {
            return Ok(*u);
        }
        let mut u = Usage::default();
        for path in self.state.list(&record::app_prefix(app)?)? {
            match self.state.read(&path) {
                Ok(Some(bytes)) => {
                    u.bytes = u.bytes.saturating_add(bytes.len() as u64);
                    u.keys = u.keys.saturating_add(1);
                }
                Ok(None) => {}
                // A record its state root refuses still holds a key's
                // place; only what needs that key fails (EIO).
                Err(statefs::StateError::Integrity { .. }) => {
                    u.keys = u.keys.saturating_add(1);
                }
                Err(e) => return Err(e.into()),
            }
        }
        table.insert(app.clone(), u);
        Ok(u)
    }

    /// The record of `key`, from the cache or read with every check;
    /// `ENOENT` if there is none, `EIO` if corrupt (neither is cached).
    pub(crate) fn load(&self, key: &KeyName) -> Result<Arc<KeyRecord>, KeystoreError> {
        if let Some(rec) = self.cache.get(key) {
            return Ok(rec);
        }
        let ticket = self.cache.ticket();
        let path = record::key_path(key)?;
        let rec = self
            .load_at(&path, key)?
            .map(|(rec, _)| Arc::new(rec))
            .ok_or_else(|| KeystoreError::NotFound {
                key: key.to_string(),
            })?;
        self.cache.fill(ticket, Arc::clone(&rec));
        Ok(rec)
    }

    /// The record at `path` (which must hold `key`) and its file length;
    /// `None` if there is none, `EIO` if corrupt.
    pub(crate) fn load_at(
        &self,
        path: &StatePath,
        key: &KeyName,
    ) -> Result<Option<(KeyRecord, usize)>, KeystoreError> {
        record::read(&self.state, path, key)
    }

    /// Write `rec` at its path; returns the file's length.
    pub(crate) fn store(&self, rec: &KeyRecord) -> Result<usize, KeystoreError> {
        let path = record::key_path(&rec.name)?;
        let payload = record::payload(rec)?;
        let written = self
            .state
            .write_record(&path, RECORD_MAGIC, RECORD_VERSION, &payload);
        // Landed or not, the cached entry is no longer to be trusted.
        self.cache.forget(&rec.name);
        written?;
        Ok(statefs::record::encoded_len(payload.len()))
    }

    /// Read, change and write one record under the writers' lock, checking
    /// the quota when storage grows.
    pub(crate) fn update<F>(
        &self,
        subject: &Subject,
        key: &KeyName,
        change: F,
    ) -> Result<Outcome<KeyInfo>, KeystoreError>
    where
        F: FnOnce(Option<KeyRecord>) -> Result<KeyRecord, KeystoreError>,
    {
        let mut table = self.lock();
        let before = self.usage_of(&mut table, &key.app)?;
        let path = record::key_path(key)?;
        let (old, old_len) = match self.load_at(&path, key)? {
            Some((rec, len)) => (Some(rec), len),
            None => (None, 0),
        };
        let is_new = old.is_none();
        let rec = change(old)?;
        let payload = record::payload(&rec)?;
        let new_len = statefs::record::encoded_len(payload.len());
        let after = Usage {
            bytes: before
                .bytes
                .saturating_sub(old_len as u64)
                .saturating_add(new_len as u64),
            keys: before.keys.saturating_add(u64::from(is_new)),
        };
        let warnings = if after.bytes > before.bytes || after.keys > before.keys {
            let limits = self.quota.keystore_quota(subject);
            quota::check(&key.app, &limits, before, after)?
        } else {
            Vec::new()
        };
        if let Err(e) = self
            .state
            .write_record(&path, RECORD_MAGIC, RECORD_VERSION, &payload)
        {
            // The write may or may not have landed: recount next time,
            // and read the record from disk again.
            table.remove(&key.app);
            self.cache.forget(key);
            return Err(e.into());
        }
        table.insert(key.app.clone(), after);
        let value = rec.info();
        self.cache.put(rec);
        Ok(Outcome { value, warnings })
    }

    /// Ask keymint to drop its unwrapped copies of `key` (every version),
    /// under its namespace and, for a service's key, under the former
    /// shared `system` namespace its older versions may be bound to.
    ///
    /// Best effort, after the record is written: keymint holds only what
    /// the keystore presented, and the keystore no longer presents the
    /// material this follows (revoked, retired or deleted); a keymint
    /// that cannot be reached keeps its copies until they are evicted or
    /// it restarts, unused.
    pub(crate) fn forget_material(&self, key: &KeyName) {
        let system = AppId::system();
        let former = key.app.as_str().starts_with("system.").then_some(&system);
        for app in std::iter::once(&key.app).chain(former) {
            // Ignored on purpose: see above.
            let _ = self.ops.forget(app, &key.purpose, &key.name);
        }
    }

    /// Fresh material for version `version` of `key`, from keymint.
    fn new_version(
        &self,
        key: &KeyName,
        version: u32,
        alg: Algorithm,
    ) -> Result<VersionRecord, KeystoreError> {
        let generated = self.ops.generate(&key.identity(version, alg))?;
        self.version_record(version, alg, generated)
    }

    /// The record of version `version` made of keymint's answer (generated
    /// or imported material).
    pub(crate) fn version_record(
        &self,
        version: u32,
        alg: Algorithm,
        generated: GeneratedKey,
    ) -> Result<VersionRecord, KeystoreError> {
        let (public, kid) = match (alg, generated.public) {
            (Algorithm::Ed25519, Some(vk)) => {
                // keymint may be remote: hold its answer to the same strict
                // rules as any other public key.
                let vk = keymint::ed25519::parse_public_key(vk.as_bytes())
                    .map_err(|_| KeystoreError::Backend("unacceptable public key"))?;
                (Some(vk.to_bytes()), Some(keymint::kid::ed25519_kid(&vk)))
            }
            (Algorithm::XChaCha20Poly1305, None) => (None, None),
            _ => {
                return Err(KeystoreError::Backend(
                    "public key does not fit the algorithm",
                ))
            }
        };
        Ok(VersionRecord {
            info: VersionInfo {
                version,
                state: VersionState::Active,
                created: self.clock.now_unix(),
                public,
                kid,
            },
            wrapped: Some(generated.wrapped),
            bound_app: None,
        })
    }

    /// Create `key` with version 1 as primary. `EALREADY` if the name is
    /// taken (revoked keys keep their names until deleted).
    pub fn create(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        alg: Algorithm,
    ) -> Result<Outcome<KeyInfo>, KeystoreError> {
        access::private(subject, authz, Capability::KeyCreate, key)?;
        self.update(subject, key, |old| {
            if old.is_some() {
                return Err(KeystoreError::Exists {
                    key: key.to_string(),
                });
            }
            let v1 = self.new_version(key, 1, alg)?;
            Ok(KeyRecord::first(key, alg, v1))
        })
    }

    /// Add a version and make it primary. Older versions stay usable for
    /// verify and unseal until retired.
    pub fn rotate(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
    ) -> Result<Outcome<KeyInfo>, KeystoreError> {
        access::private(subject, authz, Capability::KeyRotate, key)?;
        self.update(subject, key, |old| {
            let mut rec = old.ok_or_else(|| KeystoreError::NotFound {
                key: key.to_string(),
            })?;
            rec.require_active_key()?;
            let latest = rec.latest();
            if latest >= MAX_VERSIONS {
                return Err(KeystoreError::Quota {
                    app: key.app.to_string(),
                    resource: QuotaResource::Versions,
                    used: u64::from(latest),
                    would_be: u64::from(latest) + 1,
                    limit: u64::from(MAX_VERSIONS),
                });
            }
            let next = latest + 1;
            let v = self.new_version(key, next, rec.alg)?;
            rec.rotated = Some(v.info.created);
            rec.versions.push(v);
            rec.primary = next;
            Ok(rec)
        })
    }

    /// Revoke one version or the whole key. Revoked material is deleted;
    /// revoking what is already revoked succeeds and changes nothing.
    pub fn revoke(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        scope: RevokeScope,
    ) -> Result<KeyInfo, KeystoreError> {
        access::private(subject, authz, Capability::KeyRevoke, key)?;
        let out = self.update(subject, key, |old| {
            let mut rec = old.ok_or_else(|| KeystoreError::NotFound {
                key: key.to_string(),
            })?;
            match scope {
                RevokeScope::Version(v) => {
                    let ver = rec.version_mut(v)?;
                    ver.info.state = VersionState::Revoked;
                    ver.wrapped = None;
                }
                RevokeScope::Key => {
                    rec.state = KeyState::Revoked;
                    for ver in &mut rec.versions {
                        if ver.info.state == VersionState::Active {
                            ver.info.state = VersionState::Revoked;
                        }
                        ver.wrapped = None;
                    }
                }
            }
            Ok(rec)
        })?;
        self.forget_material(key);
        Ok(out.value)
    }

    /// Retire every version below `min_version`: they stop verifying and
    /// unsealing (`EKEYREVOKED`) and their material is deleted. The
    /// minimum only goes up and may not pass the primary version.
    pub fn retire(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        min_version: u32,
    ) -> Result<KeyInfo, KeystoreError> {
        access::private(subject, authz, Capability::KeyRevoke, key)?;
        let out = self.update(subject, key, |old| {
            let mut rec = old.ok_or_else(|| KeystoreError::NotFound {
                key: key.to_string(),
            })?;
            rec.require_active_key()?;
            if min_version < rec.min_version {
                return Err(KeystoreError::Invalid("the minimum version only goes up"));
            }
            if min_version > rec.primary {
                return Err(KeystoreError::Invalid(
                    "cannot retire the primary version; rotate first",
                ));
            }
            for ver in rec.versions.iter_mut() {
                if ver.info.version < min_version {
                    if ver.info.state == VersionState::Active {
                        ver.info.state = VersionState::Retired;
                    }
                    ver.wrapped = None;
                }
            }
            rec.min_version = min_version;
            Ok(rec)
        })?;
        self.forget_material(key);
        Ok(out.value)
    }

    /// The keys of `app`, sorted. Names only: a corrupt record still lists
    /// (and then fails with `EIO` when used); [`KeyStore::list_keys`]
    /// reads each.
    pub fn list(&self, subject: &Subject, app: &AppId) -> Result<Vec<KeyName>, KeystoreError> {
        access::public(subject, app)?;
        let mut out: Vec<KeyName> = self
            .state
            .list(&record::app_prefix(app)?)?
            .iter()
            .filter_map(record::name_of)
            .filter(|k| &k.app == app)
            .collect();
        out.sort();
        Ok(out)
    }

    /// A key's public metadata (no wrapped material).
    pub fn describe(&self, subject: &Subject, key: &KeyName) -> Result<KeyInfo, KeystoreError> {
        access::public(subject, &key.app)?;
        Ok(self.load(key)?.info())
    }

    /// The caller's own namespace's usage and limits.
    pub fn usage(&self, subject: &Subject) -> Result<(Usage, QuotaLimits), KeystoreError> {
        let app = access::own(subject)?;
        let mut table = self.lock();
        let u = self.usage_of(&mut table, &app)?;
        Ok((u, self.quota.keystore_quota(subject)))
    }
}
