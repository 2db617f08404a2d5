//! Sessions: login, lock, unlock, logout, status, and agreement with
//! keymint after it restarts.
//!
//! | from    | operation          | to      | keymint                          |
//! |---------|--------------------|---------|----------------------------------|
//! | (none)  | login (password)   | Active  | `unseal_session`                 |
//! | Active  | lock               | Locked  | `lock_session` (key zeroized)    |
//! | Locked  | lock               | Locked  | `lock_session` (nothing to drop) |
//! | Locked  | unlock (password)  | Active  | `unseal_session`                 |
//! | Active  | unlock             | Active  | `EALREADY`                       |
//! | any     | logout             | (gone)  | `end_session`                    |
//! | any     | delete user        | (gone)  | `end_instance`                   |
//! | Active  | keymint restarted  | Locked  | `sync_sessions`                  |
//!
//! A session id is a handle, not a credential: status, lock, unlock and
//! logout need the subject that logged the session in, or
//! `identity.user.admin`. Anyone else, and any unknown or ended id, gets
//! `EPERM` "no such session" (the same answer, so an id cannot be probed).
//! The vault ops take any holder of the id, each in its own app namespace.
//!
//! keymint holds session keys in memory only and reports a random boot
//! id: whenever it differs from the one seen last (keymintd restarted),
//! identity lists every session it knows to keymint (`sync_sessions`),
//! which keeps them as locked, and marks them locked too. Before each
//! session operation, and from the daemon's watcher.
//!
//! Invariants: a session is Active exactly when keymint holds its vault
//! key (up to a keymint restart not yet noticed, which the next operation
//! notices first); every transition that forgets a key tells the
//! observers, after the key is gone. An ended session is removed; its id
//! then names nothing.

use crate::check::{LOGIN, UNLOCK};
use crate::error::IdentityError;
use crate::kdf::Password;
use crate::service::{lock, Identity};
use keymint::{SessionRef, VaultOwner};
use nexus_core::{Capability, InstanceId, SessionId, Subject, UserId};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// The vault key is unsealed for this session.
    Active,
    /// The session exists but its vault key is forgotten.
    Locked,
}

/// A session as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (128 random bits).
    pub sid: SessionId,
    /// The user logged in.
    pub user: UserId,
    /// Active or Locked.
    pub state: SessionState,
    /// The subject that logged it in (who may control it).
    pub owner: Subject,
}

/// Told when a session's vault key is forgotten.
pub trait SessionObserver: Send + Sync {
    /// `sid` was locked or ended; drop anything decrypted for it.
    fn session_sealed(&self, sid: SessionId);
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    vault: VaultOwner,
    owner: Subject,
    state: SessionState,
}

impl Entry {
    fn session(&self, sid: SessionId) -> Session {
        Session {
            sid,
            user: self.vault.user.clone(),
            state: self.state,
            owner: self.owner.clone(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Sessions(Mutex<HashMap<SessionId, Entry>>);

impl Sessions {
    fn get(&self, sid: SessionId) -> Option<Entry> {
        lock(&self.0).get(&sid).cloned()
    }

    /// Remove every session of `instance`; their ids.
    pub(crate) fn remove_instance(&self, instance: InstanceId) -> Vec<SessionId> {
        let mut table = lock(&self.0);
        let sids: Vec<SessionId> = table
            .iter()
            .filter(|(_, e)| e.vault.instance == instance)
            .map(|(s, _)| *s)
            .collect();
        for s in &sids {
            table.remove(s);
        }
        sids
    }
}

impl Identity {
    /// Log `user` in as `caller`: check the password (audited, counted),
    /// unseal the vault key under a fresh session id owned by `caller`.
    pub fn login(
        &self,
        caller: &Subject,
        user: &UserId,
        password: &Password,
    ) -> Result<Session, IdentityError> {
        // Held until the session is in the table, so a concurrent user
        // deletion cannot miss it.
        let _gate = self.enter_gate(caller, LOGIN, user)?;
        let (record, auth) = self.authenticate_locked(caller, LOGIN, user, password)?;
        let sid = self.fresh_sid()?;
        let vault = record.owner();
        self.keys
            .unseal_session(sid, &vault, &auth, &record.wrapped)
            .map_err(|e| self.deny(caller, LOGIN, user, "error", e.into()))?;
        let entry = Entry {
            vault,
            owner: caller.clone(),
            state: SessionState::Active,
        };
        let session = entry.session(sid);
        lock(&self.sessions.0).insert(sid, entry);
        Ok(session)
    }

    /// The session `sid`, if `caller` may control it (its owner, or a
    /// holder of `identity.user.admin`); else "no such session".
    fn controlled(
        &self,
        caller: &Subject,
        sid: SessionId,
        op: &str,
    ) -> Result<Entry, IdentityError> {
        self.sync_keymint()?;
        let entry = self.sessions.get(sid).ok_or(IdentityError::NoSuchSession)?;
        if entry.owner == *caller {
            return Ok(entry);
        }
        let target = format!("user:{}", entry.vault.user);
        if self
            .authz
            .authorize(caller, Capability::UserAdmin, &target)
            .is_ok()
        {
            return Ok(entry);
        }
        Err(self.deny(
            caller,
            op,
            &entry.vault.user,
            "not_owner",
            IdentityError::NoSuchSession,
        ))
    }

    /// Lock: forget the vault key (keymint zeroizes it). Idempotent.
    pub fn lock(&self, caller: &Subject, sid: SessionId) -> Result<Session, IdentityError> {
        self.controlled(caller, sid, "session.lock")?;
        let session = {
            let mut table = lock(&self.sessions.0);
            let entry = table.get_mut(&sid).ok_or(IdentityError::NoSuchSession)?;
            entry.state = SessionState::Locked;
            // Under the table lock, so a concurrent unlock cannot see the
            // state Locked while the key is still there.
            if let Err(e) = self.keys.lock_session(sid) {
                // Locked here; keymint is told at the next sync.
                self.needs_sync.store(true, Ordering::Relaxed);
                return Err(e.into());
            }
            entry.session(sid)
        };
        self.notify(sid);
        Ok(session)
    }

    /// Unlock a locked session: re-authenticate its user (audited,
    /// counted) and unseal the vault key again under the same id.
    pub fn unlock(
        &self,
        caller: &Subject,
        sid: SessionId,
        password: &Password,
    ) -> Result<Session, IdentityError> {
        let current = self.controlled(caller, sid, UNLOCK)?;
        if current.state == SessionState::Active {
            return Err(IdentityError::AlreadyActive);
        }
        let user = current.vault.user.clone();
        let _gate = self.enter_gate(caller, UNLOCK, &user)?;
        let (record, auth) = self.authenticate_locked(caller, UNLOCK, &user, password)?;
        let mut table = lock(&self.sessions.0);
        match table.get_mut(&sid) {
            // Still there, and still the same instance (not deleted and
            // created again while the password was checked).
            Some(entry) if entry.vault.instance == record.instance => {
                let vault = record.owner();
                self.keys
                    .unseal_session(sid, &vault, &auth, &record.wrapped)
                    .map_err(|e| self.deny(caller, UNLOCK, &user, "error", e.into()))?;
                entry.vault = vault;
                entry.state = SessionState::Active;
                Ok(entry.session(sid))
            }
            _ => Err(IdentityError::NoSuchSession),
        }
    }

    /// End the session and forget its key.
    pub fn logout(&self, caller: &Subject, sid: SessionId) -> Result<(), IdentityError> {
        self.controlled(caller, sid, "session.logout")?;
        {
            let mut table = lock(&self.sessions.0);
            if !table.contains_key(&sid) {
                return Err(IdentityError::NoSuchSession);
            }
            self.keys.end_session(sid)?;
            table.remove(&sid);
        }
        self.notify(sid);
        Ok(())
    }

    /// The session `sid`, as `caller` may see it.
    pub fn session(&self, caller: &Subject, sid: SessionId) -> Result<Session, IdentityError> {
        Ok(self.controlled(caller, sid, "session.status")?.session(sid))
    }

    /// Make keymint's session table and this one agree, if keymint
    /// restarted (its boot id changed) or an earlier call to it failed:
    /// every session is listed; those whose key keymint no longer holds
    /// become locked. The first call after start lists what this process
    /// knows (at a daemon's start: nothing, so an earlier run's sessions
    /// end). `None` when there was nothing to do; else how many sessions
    /// became locked and how many keymint entries ended.
    pub fn sync_keymint(&self) -> Result<Option<(usize, usize)>, IdentityError> {
        // Asked under the lock: two checks racing with a restart must not
        // store the older boot id after the newer one.
        let mut known = lock(&self.keymint_boot);
        let boot = self.keys.boot_id()?;
        if *known == Some(boot) && !self.needs_sync.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut table = lock(&self.sessions.0);
        let refs: Vec<SessionRef> = table
            .iter()
            .map(|(sid, e)| SessionRef {
                sid: *sid,
                owner: e.vault.clone(),
                active: e.state == SessionState::Active,
            })
            .collect();
        let report = self.keys.sync_sessions(&refs)?;
        let mut locked = Vec::new();
        for (sid, e) in table.iter_mut() {
            if e.state == SessionState::Active && !report.active.contains(sid) {
                e.state = SessionState::Locked;
                locked.push(*sid);
            }
        }
        self.needs_sync.store(false, Ordering::Relaxed);
        let restarted = known.is_some_and(|k| k != boot);
        *known = Some(boot);
        drop(table);
        drop(known);
        for sid in &locked {
            self.notify(*sid);
        }
        if restarted {
            eprintln!(
                "identity: keymint restarted (new boot id): {} session(s) now locked",
                locked.len()
            );
        }
        Ok(Some((locked.len(), report.ended)))
    }

    fn fresh_sid(&self) -> Result<SessionId, IdentityError> {
        // 128 random bits do not collide in practice; the check makes a
        // broken entropy source fail loudly instead of merging sessions.
        for _ in 0..4 {
            let mut b = [0u8; 16];
            self.keys.random(&mut b)?;
            let sid = SessionId::from_bytes(b);
            if !lock(&self.sessions.0).contains_key(&sid) {
                return Ok(sid);
            }
        }
        Err(IdentityError::KeyMint(keymint::KeyMintError::Entropy))
    }
}
