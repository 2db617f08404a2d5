//! Password checks (login, unlock, password change): audited and counted
//! before they take effect.
//!
//! One check, in order:
//!
//! 1. The caller's failure budget ([`crate::budget`]); empty: `EAGAIN`.
//! 2. The user's record; an unknown user (or one being deleted) takes the
//!    same path with the same cost and answers (below).
//! 3. The (user, caller) count ([`crate::throttle`]); waiting: `EAGAIN`.
//! 4. The attempt is counted as a failure *before* it is judged: the
//!    throttle record is written with one more failure. If that write
//!    fails (a full disk), the attempt is refused unjudged, so no guess is
//!    free; and a check cut short by a crash stays counted.
//! 5. Argon2id, then the verifier (keymint's MAC under the device pepper).
//! 6. The decision goes to the audit log. A wrong password is refused
//!    (`EPERM`); a right one is refused too if the record cannot be
//!    written (`EIO`), and only then is the count cleared and the outcome
//!    (session, new password) allowed to happen.
//!
//! Every refusal is an audit line as well (`throttled`, `busy`,
//! `password`, `error`). Records of the first format (SHA-256 verifier,
//! name-bound vault key) are upgraded after a successful check.
//!
//! Invariant: wrong password and unknown user give the same `EPERM`, after
//! the same Argon2id work and the same keymint round trip; unknown users
//! are counted in memory per (name, caller) on the same schedule, so
//! neither the error, the timing nor the throttle says whether a user
//! exists.

use crate::error::IdentityError;
use crate::kdf::{same, Password, SALT_LEN};
use crate::record::{UserRecord, Verifier};
use crate::service::{lock, Identity};
use crate::throttle::{ThrottleRecord, ThrottleState};
use keymint::AuthSecret;
use nexus_core::{Subject, UserId};

/// The audited op names.
pub(crate) const LOGIN: &str = "session.login";
pub(crate) const UNLOCK: &str = "session.unlock";
pub(crate) const PASSWD: &str = "user.passwd";

/// Names of unknown users counted in memory at most; beyond that the
/// table is pruned (entries whose wait is over) or cleared.
const UNKNOWN_TABLE_MAX: usize = 4096;

impl Identity {
    /// Write a decision about `user` to the audit log.
    pub(crate) fn decide(
        &self,
        caller: &Subject,
        op: &str,
        user: &UserId,
        allowed: bool,
        reason: &str,
    ) -> Result<(), IdentityError> {
        self.audit
            .record(caller, op, &format!("user:{user}"), allowed, reason)
    }

    /// Record a refusal and return `err` (or the audit failure).
    pub(crate) fn deny(
        &self,
        caller: &Subject,
        op: &str,
        user: &UserId,
        reason: &str,
        err: IdentityError,
    ) -> IdentityError {
        match self.decide(caller, op, user, false, reason) {
            Ok(()) => err,
            Err(audit) if matches!(err, IdentityError::AuthFailed) => audit,
            Err(_) => err,
        }
    }

    /// Check `password` for `user` on behalf of `caller` (the caller holds
    /// the gate). On success the decision is in the audit log and the
    /// count cleared: the record and the auth secret for keymint.
    pub(crate) fn authenticate_locked(
        &self,
        caller: &Subject,
        op: &str,
        user: &UserId,
        password: &Password,
    ) -> Result<(UserRecord, AuthSecret), IdentityError> {
        password.checked()?;
        let now = self.clock.now_unix();
        let wait = lock(&self.budgets).remaining(caller, &self.config.caller_budget, now);
        if wait > 0 {
            let e = IdentityError::Throttled {
                retry_after_secs: wait,
            };
            return Err(self.deny(caller, op, user, "throttled", e));
        }
        let record = match self.load(user) {
            Ok(Some(r)) if !r.deleting => r,
            Ok(_) => return Err(self.fail_unknown(caller, op, user, password, now)),
            Err(e) => return Err(self.deny(caller, op, user, "error", e)),
        };
        let throttle = match ThrottleRecord::load(&self.state, user, record.instance, record.legacy)
        {
            Ok(t) => t,
            Err(e) => return Err(self.deny(caller, op, user, "error", e)),
        };
        let wait = throttle.remaining(caller, &self.config.throttle, now);
        if wait > 0 {
            let e = IdentityError::Throttled {
                retry_after_secs: wait,
            };
            return Err(self.deny(caller, op, user, "throttled", e));
        }
        // Counted before it is judged (module docs, step 4).
        let counted = throttle.failed(caller, now);
        if let Err(e) = counted.store(&self.state, user) {
            return Err(self.deny(caller, op, user, "error", e));
        }
        let derived = match self.derive(&record.kdf, password, &record.salt) {
            Ok(d) => d,
            Err(e) => return Err(self.deny(caller, op, user, "error", e)),
        };
        let matches = match &record.verifier {
            Verifier::Sha256(h) => same(&derived.legacy_hash(), h),
            Verifier::Mac(m) => match self.keys.verifier_mac(derived.input()) {
                Ok(mac) => same(&mac, m),
                Err(e) => return Err(self.deny(caller, op, user, "error", e.into())),
            },
        };
        if !matches {
            lock(&self.budgets).spend(caller, &self.config.caller_budget, now);
            return Err(self.deny(caller, op, user, "password", IdentityError::AuthFailed));
        }
        self.decide(caller, op, user, true, "password")?;
        if let Err(e) = counted.succeeded(caller).store(&self.state, user) {
            return Err(self.deny(caller, op, user, "error", e));
        }
        let record = self.upgrade(record, &derived);
        Ok((record, derived.into_auth()))
    }

    /// After a successful check: a first-format verifier becomes the
    /// peppered MAC, a name-bound vault key is rewrapped to the instance.
    /// Best effort: the old record stays valid if this fails, and the
    /// upgrade is tried again at the next check.
    fn upgrade(&self, record: UserRecord, derived: &crate::kdf::Derived) -> UserRecord {
        let stale_verifier = matches!(record.verifier, Verifier::Sha256(_));
        let stale_key = record.wrapped.is_name_bound();
        if !stale_verifier && !stale_key {
            return record;
        }
        let upgraded = (|| -> Result<UserRecord, IdentityError> {
            let mut up = record.clone();
            if stale_verifier {
                up.verifier = Verifier::Mac(self.keys.verifier_mac(derived.input())?);
            }
            if stale_key {
                let auth = derived.auth();
                up.wrapped = self
                    .keys
                    .rewrap_vault_key(&up.owner(), auth, auth, &up.wrapped)?;
            }
            up.store(&self.state)?;
            Ok(up)
        })();
        match upgraded {
            Ok(up) => up,
            Err(e) => {
                eprintln!(
                    "identity: the record of {} was not upgraded: {e}",
                    record.user
                );
                record
            }
        }
    }

    /// An attempt on a user that does not exist: same work, same answers.
    fn fail_unknown(
        &self,
        caller: &Subject,
        op: &str,
        user: &UserId,
        password: &Password,
        now: u64,
    ) -> IdentityError {
        let policy = &self.config.throttle;
        let key = (user.clone(), caller.clone());
        let prior = lock(&self.unknown).get(&key).copied().unwrap_or_default();
        let wait = prior.remaining(policy, now);
        if wait > 0 {
            let e = IdentityError::Throttled {
                retry_after_secs: wait,
            };
            return self.deny(caller, op, user, "throttled", e);
        }
        // The result is discarded; only the cost matters (Argon2id and the
        // keymint round trip of a known user's check).
        if let Ok(d) = self.derive(&self.config.kdf, password, &[0u8; SALT_LEN]) {
            let _ = self.keys.verifier_mac(d.input());
        }
        lock(&self.budgets).spend(caller, &self.config.caller_budget, now);
        {
            let mut table = lock(&self.unknown);
            if table.len() >= UNKNOWN_TABLE_MAX && !table.contains_key(&key) {
                table.retain(|_, s: &mut ThrottleState| s.remaining(policy, now) > 0);
                if table.len() >= UNKNOWN_TABLE_MAX {
                    table.clear();
                }
            }
            table.insert(key, prior.failed(now));
        }
        self.deny(caller, op, user, "password", IdentityError::AuthFailed)
    }

    /// Change `user`'s password (the old one proves it), as `caller`. The
    /// vault key is re-wrapped, not replaced, so the vault is not
    /// re-encrypted. Audited and throttled like login.
    pub fn change_password(
        &self,
        caller: &Subject,
        user: &UserId,
        old: &Password,
        new: &Password,
    ) -> Result<(), IdentityError> {
        new.checked()?;
        let _gate = self.enter_gate(caller, PASSWD, user)?;
        let (record, old_auth) = self.authenticate_locked(caller, PASSWD, user, old)?;
        let changed = (|| -> Result<(), IdentityError> {
            let salt = self.salt()?;
            let derived = self.derive(&self.config.kdf, new, &salt)?;
            let verifier = Verifier::Mac(self.keys.verifier_mac(derived.input())?);
            let wrapped = self.keys.rewrap_vault_key(
                &record.owner(),
                &old_auth,
                derived.auth(),
                &record.wrapped,
            )?;
            UserRecord {
                kdf: self.config.kdf,
                salt,
                verifier,
                wrapped,
                ..record.clone()
            }
            .store(&self.state)
        })();
        changed.map_err(|e| self.deny(caller, PASSWD, user, "error", e))
    }

    /// Take the credential gate as `caller`; a full queue is a refusal
    /// (audited) before any work.
    pub(crate) fn enter_gate(
        &self,
        caller: &Subject,
        op: &str,
        user: &UserId,
    ) -> Result<crate::gate::Held<'_>, IdentityError> {
        self.gate
            .enter(caller, self.rank(caller))
            .map_err(|_| self.deny(caller, op, user, "busy", IdentityError::Busy))
    }

    /// `caller`'s rank at the gate: its recent failures.
    pub(crate) fn rank(&self, caller: &Subject) -> u32 {
        let now = self.clock.now_unix();
        lock(&self.budgets).spent(caller, &self.config.caller_budget, now)
    }
}
