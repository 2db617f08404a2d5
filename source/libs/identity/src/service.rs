//! The identity service: user administration and password checks.
//!
//! Invariants:
//! - Create, delete and list need `identity.user.admin` from the
//!   [`Authorizer`]; the check comes before anything is read.
//! - Every password check (login, unlock, password change) runs under one
//!   gate, after the throttle check, so concurrent guesses cannot slip past
//!   the counter and at most one Argon2id instance (64 MiB) runs at a time.
//! - An unknown user costs the same Argon2id work as a known one and is
//!   throttled in memory by name, so neither the error, the timing nor the
//!   throttle says whether the user exists.

use crate::error::IdentityError;
use crate::kdf::{derive, KdfParams, Password, SALT_LEN};
use crate::record::{user_dir, UserRecord};
use crate::session::{SessionObserver, Sessions};
use crate::throttle::{ThrottlePolicy, ThrottleState};
use keymint::{AuthSecret, KeyMint, KeyMintError, VaultKeyOps};
use nexus_core::{Authorizer, Capability, Clock, Subject, UserId};
use statefs::{StateFs, StatePath};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Names of unknown users throttled in memory at most; beyond that the
/// table is pruned (entries whose wait is over) or cleared.
const UNKNOWN_TABLE_MAX: usize = 4096;

/// The key operations identity needs: keymint's session unseal plus its
/// random source (session ids, salts).
pub trait SessionKeys: VaultKeyOps {
    /// Fill `out` with random bytes from keymint's entropy source.
    fn random(&self, out: &mut [u8]) -> Result<(), KeyMintError>;
}

impl SessionKeys for KeyMint {
    fn random(&self, out: &mut [u8]) -> Result<(), KeyMintError> {
        self.fill_random(out)
    }
}

/// Tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityConfig {
    /// Argon2id parameters for new users and new passwords (existing
    /// records keep theirs).
    pub kdf: KdfParams,
    /// The failed-attempt schedule.
    pub throttle: ThrottlePolicy,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            kdf: KdfParams::PRODUCTION,
            throttle: ThrottlePolicy::default(),
        }
    }
}

/// Users and sessions over one state store and one keymint.
pub struct Identity {
    pub(crate) state: StateFs,
    pub(crate) keys: Arc<dyn SessionKeys>,
    clock: Arc<dyn Clock>,
    authz: Arc<dyn Authorizer>,
    config: IdentityConfig,
    pub(crate) sessions: Sessions,
    auth_gate: Mutex<()>,
    unknown: Mutex<HashMap<UserId, ThrottleState>>,
    pub(crate) observers: Mutex<Vec<Arc<dyn SessionObserver>>>,
    kdf_runs: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are single map or vector operations, or the gate's
    // empty tuple: a panicking holder cannot leave them half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Identity {
    /// The service over `state`, with `keys` (keymint), `clock`, `authz`.
    pub fn new(
        state: StateFs,
        keys: Arc<dyn SessionKeys>,
        clock: Arc<dyn Clock>,
        authz: Arc<dyn Authorizer>,
        config: IdentityConfig,
    ) -> Self {
        Identity {
            state,
            keys,
            clock,
            authz,
            config,
            sessions: Sessions::default(),
            auth_gate: Mutex::new(()),
            unknown: Mutex::new(HashMap::new()),
            observers: Mutex::new(Vec::new()),
            kdf_runs: AtomicU64::new(0),
        }
    }

    /// Be told whenever a session's key is forgotten (lock, logout,
    /// user deletion), e.g. so the vault drops its decrypted cache.
    pub fn add_observer(&self, observer: Arc<dyn SessionObserver>) {
        lock(&self.observers).push(observer);
    }

    /// How many password checks ran Argon2id since this instance started
    /// (a diagnostic figure: throttled attempts must not move it).
    pub fn kdf_runs(&self) -> u64 {
        self.kdf_runs.load(Ordering::Relaxed)
    }

    /// Argon2id, counted.
    fn derive(
        &self,
        params: &KdfParams,
        password: &Password,
        salt: &[u8; SALT_LEN],
    ) -> Result<crate::kdf::Derived, IdentityError> {
        self.kdf_runs.fetch_add(1, Ordering::Relaxed);
        derive(params, password, salt)
    }

    /// Create `user` with `password` and a fresh vault key.
    pub fn create_user(
        &self,
        caller: &Subject,
        user: &UserId,
        password: &Password,
    ) -> Result<(), IdentityError> {
        self.authz
            .authorize(caller, Capability::UserAdmin, &format!("user:{user}"))?;
        let _gate = self.gate();
        if UserRecord::load(&self.state, user)?.is_some() {
            return Err(IdentityError::UserExists);
        }
        let salt = self.salt()?;
        let derived = self.derive(&self.config.kdf, password, &salt)?;
        let wrapped = self.keys.create_vault_key(user, derived.auth())?;
        UserRecord {
            user: user.clone(),
            kdf: self.config.kdf,
            salt,
            verifier_hash: derived.verifier_hash(),
            created_at: self.clock.now_unix(),
            wrapped,
        }
        .store(&self.state)
    }

    /// Delete `user`: end its sessions, then remove its record, throttle
    /// state and vault.
    pub fn delete_user(&self, caller: &Subject, user: &UserId) -> Result<(), IdentityError> {
        self.authz
            .authorize(caller, Capability::UserAdmin, &format!("user:{user}"))?;
        let _gate = self.gate();
        if UserRecord::load(&self.state, user)?.is_none() {
            return Err(IdentityError::NoSuchUser);
        }
        for sid in self.sessions.remove_user(user) {
            self.keys.end_session(sid);
            self.notify(sid);
        }
        self.state.delete_prefix(&user_dir(user)?)?;
        Ok(())
    }

    /// Every user, sorted.
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

    /// Change `user`'s password. The vault key is re-wrapped, not
    /// replaced, so the vault is not re-encrypted. Throttled like login.
    pub fn change_password(
        &self,
        user: &UserId,
        old: &Password,
        new: &Password,
    ) -> Result<(), IdentityError> {
        let _gate = self.gate();
        let (record, old_auth) = self.authenticate_locked(user, old)?;
        let salt = self.salt()?;
        let derived = self.derive(&self.config.kdf, new, &salt)?;
        let wrapped =
            self.keys
                .rewrap_vault_key(user, &old_auth, derived.auth(), &record.wrapped)?;
        UserRecord {
            kdf: self.config.kdf,
            salt,
            verifier_hash: derived.verifier_hash(),
            wrapped,
            ..record
        }
        .store(&self.state)
    }

    /// Take the credential gate: password checks and user creation or
    /// deletion run one at a time.
    pub(crate) fn gate(&self) -> MutexGuard<'_, ()> {
        lock(&self.auth_gate)
    }

    /// Check `password` for `user` (throttled); the caller holds the gate.
    /// On success: the record and the auth secret for keymint.
    pub(crate) fn authenticate_locked(
        &self,
        user: &UserId,
        password: &Password,
    ) -> Result<(UserRecord, AuthSecret), IdentityError> {
        let now = self.clock.now_unix();
        let policy = &self.config.throttle;
        let Some(record) = UserRecord::load(&self.state, user)? else {
            return Err(self.fail_unknown(user, password, now));
        };
        let throttle = ThrottleState::load(&self.state, user)?;
        let wait = throttle.remaining(policy, now);
        if wait > 0 {
            return Err(IdentityError::Throttled {
                retry_after_secs: wait,
            });
        }
        let derived = self.derive(&record.kdf, password, &record.salt)?;
        if derived.matches(&record.verifier_hash) {
            if throttle.failures > 0 {
                ThrottleState::default().store(&self.state, user)?;
            }
            Ok((record, derived.into_auth()))
        } else {
            throttle.failed(now).store(&self.state, user)?;
            Err(IdentityError::AuthFailed)
        }
    }

    /// An attempt on a user that does not exist: same work, same answers.
    fn fail_unknown(&self, user: &UserId, password: &Password, now: u64) -> IdentityError {
        let policy = &self.config.throttle;
        let mut table = lock(&self.unknown);
        let prior = table.get(user).copied().unwrap_or_default();
        let wait = prior.remaining(policy, now);
        if wait > 0 {
            return IdentityError::Throttled {
                retry_after_secs: wait,
            };
        }
        // The result is discarded; only the cost matters.
        if let Err(e) = self.derive(&self.config.kdf, password, &[0u8; SALT_LEN]) {
            if matches!(e, IdentityError::Invalid(_)) {
                return e;
            }
        }
        if table.len() >= UNKNOWN_TABLE_MAX && !table.contains_key(user) {
            table.retain(|_, s| s.remaining(policy, now) > 0);
            if table.len() >= UNKNOWN_TABLE_MAX {
                table.clear();
            }
        }
        table.insert(user.clone(), prior.failed(now));
        IdentityError::AuthFailed
    }

    fn salt(&self) -> Result<[u8; SALT_LEN], IdentityError> {
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
