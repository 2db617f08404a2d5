//! The identity service: user administration.
//!
//! Invariants:
//! - Create, delete and list need `identity.user.admin` from the
//!   [`Authorizer`]; the check comes before anything is read.
//! - A user is an instance: `create_user` mints a random instance id, and
//!   the vault key, the vault, keymint's sessions and every cache are
//!   bound to it. `delete_user` marks the record `deleting` first, ends
//!   the instance's sessions (here and in keymint), purges its vault
//!   ([`VaultPurge`]: file and decrypted copies), and only then removes the
//!   records. A step that fails leaves the user pending (nobody can log
//!   in, the name cannot be created again) until `delete_user` runs again
//!   and finishes: no half-deleted state that a new user of the same name
//!   could inherit.
//! - Password checks live in [`crate::check`]; sessions in
//!   [`crate::session`].

use crate::budget::{Budgets, CallerBudget};
use crate::error::IdentityError;
use crate::gate::Gate;
use crate::kdf::{derive, KdfParams, Password, SALT_LEN};
use crate::record::{UserRecord, Verifier};
use crate::session::{SessionObserver, Sessions};
use crate::throttle::{ThrottlePolicy, ThrottleRecord, ThrottleState};
use keymint::{KeyMint, KeyMintError, SessionKeyOps};
use nexus_core::{Authorizer, Capability, Clock, InstanceId, Subject, UserId};
use statefs::{StateFs, StatePath};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The key operations identity needs: keymint's session side plus its
/// random source (session ids, salts, instance ids).
pub trait SessionKeys: SessionKeyOps {
    /// Fill `out` with random bytes from keymint's entropy source.
    fn random(&self, out: &mut [u8]) -> Result<(), KeyMintError>;
}

impl SessionKeys for KeyMint {
    fn random(&self, out: &mut [u8]) -> Result<(), KeyMintError> {
        self.fill_random(out)
    }
}

/// Where identity writes each decision before it takes effect (the
/// daemon's audit log).
pub trait DecisionLog: Send + Sync {
    /// `caller` asked for `op` on `target` (ids only), `allowed` or not,
    /// for `reason` (a stable word). An error means the record was not
    /// written: the decision must not take effect.
    fn record(
        &self,
        caller: &Subject,
        op: &str,
        target: &str,
        allowed: bool,
        reason: &str,
    ) -> Result<(), IdentityError>;
}

/// Destroys a deleted user instance's vault: its file and every decrypted
/// copy (keystored's `vault.purge`, or the in-process vault).
pub trait VaultPurge: Send + Sync {
    /// Purge `instance` (and, for an instance upgraded from the first
    /// format, the name-bound vault of `legacy_user`). Idempotent.
    fn purge(
        &self,
        instance: InstanceId,
        legacy_user: Option<&UserId>,
    ) -> Result<(), IdentityError>;
}

/// Tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityConfig {
    /// Argon2id parameters for new users and new passwords (existing
    /// records keep theirs).
    pub kdf: KdfParams,
    /// The failed-attempt schedule, per user and caller.
    pub throttle: ThrottlePolicy,
    /// The failure budget per caller, over every user name.
    pub caller_budget: CallerBudget,
    /// Password checks one caller may have in flight (waiting or running).
    pub caller_queue: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            kdf: KdfParams::PRODUCTION,
            throttle: ThrottlePolicy::default(),
            caller_budget: CallerBudget::default(),
            caller_queue: 2,
        }
    }
}

/// What [`Identity::new`] is built from.
pub struct IdentityParts {
    /// The state store (user and throttle records).
    pub state: StateFs,
    /// keymint.
    pub keys: Arc<dyn SessionKeys>,
    /// The clock (throttling, creation times).
    pub clock: Arc<dyn Clock>,
    /// Who may administer users.
    pub authz: Arc<dyn Authorizer>,
    /// Where decisions are recorded before they take effect.
    pub audit: Arc<dyn DecisionLog>,
    /// Who purges a deleted user's vault.
    pub vault: Arc<dyn VaultPurge>,
    /// Tunables.
    pub config: IdentityConfig,
}

/// Users and sessions over one state store and one keymint.
pub struct Identity {
    pub(crate) state: StateFs,
    pub(crate) keys: Arc<dyn SessionKeys>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) authz: Arc<dyn Authorizer>,
    pub(crate) audit: Arc<dyn DecisionLog>,
    vault: Arc<dyn VaultPurge>,
    pub(crate) config: IdentityConfig,
    pub(crate) sessions: Sessions,
    pub(crate) gate: Gate,
    pub(crate) budgets: Mutex<Budgets>,
    pub(crate) unknown: Mutex<HashMap<(UserId, Subject), ThrottleState>>,
    pub(crate) observers: Mutex<Vec<Arc<dyn SessionObserver>>>,
    pub(crate) keymint_boot: Mutex<Option<[u8; 16]>>,
    pub(crate) needs_sync: AtomicBool,
    kdf_runs: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are single map or vector operations: a panicking
    // holder cannot leave them half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Identity {
    /// The service over `parts`.
    pub fn new(parts: IdentityParts) -> Self {
        Identity {
            state: parts.state,
            keys: parts.keys,
            clock: parts.clock,
            authz: parts.authz,
            audit: parts.audit,
            vault: parts.vault,
            gate: Gate::new(parts.config.caller_queue),
            config: parts.config,
            sessions: Sessions::default(),
            budgets: Mutex::new(Budgets::default()),
            unknown: Mutex::new(HashMap::new()),
            observers: Mutex::new(Vec::new()),
            keymint_boot: Mutex::new(None),
            needs_sync: AtomicBool::new(false),
            kdf_runs: AtomicU64::new(0),
        }
    }

    /// Be told whenever a session's key is forgotten (lock, logout,
    /// user deletion, keymint restart), e.g. so the vault drops its
    /// decrypted cache.
    pub fn add_observer(&self, observer: Arc<dyn SessionObserver>) {
        lock(&self.observers).push(observer);
    }

    /// How many password checks ran Argon2id since this instance started
    /// (a diagnostic figure: throttled attempts must not move it).
    pub fn kdf_runs(&self) -> u64 {
        self.kdf_runs.load(Ordering::Relaxed)
    }

    /// Argon2id, counted.
    pub(crate) fn derive(
        &self,
        params: &KdfParams,
        password: &Password,
        salt: &[u8; SALT_LEN],
    ) -> Result<crate::kdf::Derived, IdentityError> {
        self.kdf_runs.fetch_add(1, Ordering::Relaxed);
        derive(params, password, salt)
    }

    pub(crate) fn load(&self, user: &UserId) -> Result<Option<UserRecord>, IdentityError> {
        UserRecord::load(&self.state, user, || self.mint_instance())
    }

    fn mint_instance(&self) -> Result<InstanceId, IdentityError> {
        let mut b = [0u8; 16];
        self.keys.random(&mut b)?;
        Ok(InstanceId::from_bytes(b))
    }

    /// Create `user` with `password`: a new instance with a fresh vault
    /// key.
    pub fn create_user(
        &self,
        caller: &Subject,
        user: &UserId,
        password: &Password,
    ) -> Result<(), IdentityError> {
        self.authz
            .authorize(caller, Capability::UserAdmin, &format!("user:{user}"))?;
        let _gate = self.admin_gate(caller)?;
        if let Some(existing) = self.load(user)? {
            return Err(if existing.deleting {
                IdentityError::DeletionPending
            } else {
                IdentityError::UserExists
            });
        }
        let salt = self.salt()?;
        let derived = self.derive(&self.config.kdf, password, &salt)?;
        let verifier = Verifier::Mac(self.keys.verifier_mac(derived.input())?);
        let mut record = UserRecord {
            user: user.clone(),
            instance: self.mint_instance()?,
            legacy: false,
            deleting: false,
            kdf: self.config.kdf,
            salt,
            verifier,
            created_at: self.clock.now_unix(),
            wrapped: keymint::WrappedVaultKey::from_bytes(Vec::new()),
        };
        record.wrapped = self
            .keys
            .create_vault_key(&record.owner(), derived.auth())?;
        // A throttle record of an earlier instance is stale (bound to
        // that instance); it goes with the new record.
        ThrottleRecord::delete(&self.state, user)?;
        record.store(&self.state)
    }

    /// Delete `user`: mark it pending, end its sessions, purge its vault,
    /// then remove its records. See the module docs for what a failure at
    /// each step leaves.
    pub fn delete_user(&self, caller: &Subject, user: &UserId) -> Result<(), IdentityError> {
        self.authz
            .authorize(caller, Capability::UserAdmin, &format!("user:{user}"))?;
        let _gate = self.admin_gate(caller)?;
        let Some(mut record) = self.load(user)? else {
            return Err(IdentityError::NoSuchUser);
        };
        if !record.deleting {
            record.deleting = true;
            record.store(&self.state)?;
        }
        let sids = self.sessions.remove_instance(record.instance);
        let ended = self.keys.end_instance(record.instance);
        for sid in sids {
            self.notify(sid);
        }
        if let Err(e) = ended {
            // keymint's copies must be gone before the deletion counts;
            // its sessions are in its memory only, so a restarted keymint
            // has none, but an unreachable one may still hold them.
            self.needs_sync.store(true, Ordering::Relaxed);
            return Err(e.into());
        }
        let legacy_user = record.legacy.then_some(user);
        self.vault.purge(record.instance, legacy_user)?;
        ThrottleRecord::delete(&self.state, user)?;
        UserRecord::delete(&self.state, user)?;
        lock(&self.unknown).retain(|(u, _), _| u != user);
        Ok(())
    }

    /// The current instance of `user` (administrators only; it names the
    /// user's vault file, `state:/vault/<instance>/vault.kv`).
    pub fn instance(&self, caller: &Subject, user: &UserId) -> Result<InstanceId, IdentityError> {
        self.authz
            .authorize(caller, Capability::UserAdmin, &format!("user:{user}"))?;
        let _gate = self.admin_gate(caller)?;
        Ok(self.load(user)?.ok_or(IdentityError::NoSuchUser)?.instance)
    }

    /// Every user (pending deletions included), sorted.
    pub fn list_users(&self, caller: &Subject) -> Result<Vec<UserId>, IdentityError> {
        self.authz
            .authorize(caller, Capability::UserAdmin, "user:*")?;
        let root = StatePath::from_segments(["identity"]).map_err(statefs::StateError::from)?;
        let mut out: Vec<UserId> = self
            .state
            .list(&root)?
            .iter()
            .filter_map(|p| match p.segments() {
                [_, user, file] if file == "user" => UserId::new(user.as_str()).ok(),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The credential gate for an administrator's operation.
    fn admin_gate(&self, caller: &Subject) -> Result<crate::gate::Held<'_>, IdentityError> {
        self.gate
            .enter(caller, self.rank(caller))
            .map_err(|_| IdentityError::Busy)
    }

    pub(crate) fn salt(&self) -> Result<[u8; SALT_LEN], IdentityError> {
        let mut salt = [0u8; SALT_LEN];
        self.keys.random(&mut salt)?;
        Ok(salt)
    }

    pub(crate) fn notify(&self, sid: nexus_core::SessionId) {
        let observers: Vec<_> = lock(&self.observers).clone();
        for o in observers {
            o.session_sealed(sid);
        }
    }
}
