//! Sessions: login, lock, unlock, logout.
//!
//! | from    | operation          | to      | keymint                 |
//! |---------|--------------------|---------|-------------------------|
//! | (none)  | login (password)   | Active  | `unseal_session`        |
//! | Active  | lock               | Locked  | `end_session` (zeroize) |
//! | Locked  | lock               | Locked  | nothing                 |
//! | Locked  | unlock (password)  | Active  | `unseal_session`        |
//! | Active  | unlock             | Active  | `EALREADY`              |
//! | any     | logout             | (gone)  | `end_session`           |
//! | any     | delete user        | (gone)  | `end_session`           |
//!
//! Invariants: a session is Active exactly when keymint holds its vault
//! key; every transition that forgets a key tells the observers, after the
//! key is gone. An ended session is removed; its id then names nothing.

use crate::error::IdentityError;
use crate::kdf::Password;
use crate::service::{lock, Identity};
use nexus_core::{SessionId, UserId};
use std::collections::HashMap;
use std::sync::Mutex;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// The vault key is unsealed for this session.
    Active,
    /// The session exists but its vault key is forgotten.
    Locked,
}

/// A session as callers see it. The id is a bearer handle: it selects a
/// session, while the caller's subject still comes from its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (128 random bits).
    pub sid: SessionId,
    /// The user logged in.
    pub user: UserId,
    /// Active or Locked.
    pub state: SessionState,
}

/// Told when a session's vault key is forgotten.
pub trait SessionObserver: Send + Sync {
    /// `sid` was locked or ended; drop anything decrypted for it.
    fn session_sealed(&self, sid: SessionId);
}

#[derive(Default)]
pub(crate) struct Sessions(Mutex<HashMap<SessionId, (UserId, SessionState)>>);

impl Sessions {
    fn get(&self, sid: SessionId) -> Option<Session> {
        lock(&self.0).get(&sid).map(|(user, state)| Session {
            sid,
            user: user.clone(),
            state: *state,
        })
    }

    pub(crate) fn remove_user(&self, user: &UserId) -> Vec<SessionId> {
        let mut table = lock(&self.0);
        let sids: Vec<SessionId> = table
            .iter()
            .filter(|(_, (u, _))| u == user)
            .map(|(s, _)| *s)
            .collect();
        for s in &sids {
            table.remove(s);
        }
        sids
    }
}

impl Identity {
    /// Log `user` in: check the password (throttled), unseal the vault key
    /// under a fresh session id.
    pub fn login(&self, user: &UserId, password: &Password) -> Result<Session, IdentityError> {
        // Held until the session is in the table, so a concurrent user
        // deletion cannot miss it.
        let _gate = self.gate();
        let (record, auth) = self.authenticate_locked(user, password)?;
        let sid = self.fresh_sid()?;
        self.keys
            .unseal_session(sid, user, &auth, &record.wrapped)?;
        lock(&self.sessions.0).insert(sid, (user.clone(), SessionState::Active));
        Ok(Session {
            sid,
            user: user.clone(),
            state: SessionState::Active,
        })
    }

    /// Lock: forget the vault key (keymint zeroizes it). Idempotent.
    pub fn lock(&self, sid: SessionId) -> Result<Session, IdentityError> {
        let session = {
            let mut table = lock(&self.sessions.0);
            let (user, state) = table.get_mut(&sid).ok_or(IdentityError::NoSuchSession)?;
            *state = SessionState::Locked;
            // Under the table lock, so a concurrent unlock cannot see the
            // state Locked while the key is still there.
            self.keys.end_session(sid);
            Session {
                sid,
                user: user.clone(),
                state: SessionState::Locked,
            }
        };
        self.notify(sid);
        Ok(session)
    }

    /// Unlock a locked session: re-authenticate its user (throttled) and
    /// unseal the vault key again under the same id.
    pub fn unlock(&self, sid: SessionId, password: &Password) -> Result<Session, IdentityError> {
        let current = self.sessions.get(sid).ok_or(IdentityError::NoSuchSession)?;
        if current.state == SessionState::Active {
            return Err(IdentityError::AlreadyActive);
        }
        let _gate = self.gate();
        let (record, auth) = self.authenticate_locked(&current.user, password)?;
        let mut table = lock(&self.sessions.0);
        match table.get_mut(&sid) {
            Some((user, state)) if *user == current.user => {
                self.keys
                    .unseal_session(sid, user, &auth, &record.wrapped)?;
                *state = SessionState::Active;
                Ok(Session {
                    sid,
                    user: user.clone(),
                    state: SessionState::Active,
                })
            }
            // Logged out (or the user deleted) while the password was checked.
            _ => Err(IdentityError::NoSuchSession),
        }
    }

    /// End the session and forget its key.
    pub fn logout(&self, sid: SessionId) -> Result<(), IdentityError> {
        {
            let mut table = lock(&self.sessions.0);
            table.remove(&sid).ok_or(IdentityError::NoSuchSession)?;
            self.keys.end_session(sid);
        }
        self.notify(sid);
        Ok(())
    }

    /// The session `sid` names.
    pub fn session(&self, sid: SessionId) -> Result<Session, IdentityError> {
        self.sessions.get(sid).ok_or(IdentityError::NoSuchSession)
    }

    fn fresh_sid(&self) -> Result<SessionId, IdentityError> {
        // 128 random bits do not collide in practice; the check makes a
        // broken entropy source fail loudly instead of merging sessions.
        for _ in 0..4 {
            let mut b = [0u8; 16];
            self.keys.random(&mut b)?;
            let sid = SessionId::from_bytes(b);
            if !lock(&self.sessions.0).contains_key(&sid) && self.keys.session_user(sid)?.is_none()
            {
                return Ok(sid);
            }
        }
        Err(IdentityError::KeyMint(keymint::KeyMintError::Entropy))
    }
}
