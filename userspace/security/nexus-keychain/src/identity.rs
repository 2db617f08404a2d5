//! identityd: users and sessions.
//!
//! Retry class: `session.status` and `user.list` are retried after a
//! lost connection ([`Retry::Idempotent`]); every other op is sent once (a repeated login makes a
//! second session; a repeated unlock or wrong password counts twice
//! against throttling; user changes must not be replayed). Passwords are
//! zeroized after the call and never appear in an error.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::reply::ReplyMap;
use crate::secret::scrub;
use crate::service::Retry;
use crate::types::word_enum;
use nexus_core::{SessionId, UserId};
use std::fmt;
use wire::{Args, Value};

word_enum!(
    /// A session's state.
    SessionState { /** Unlocked: the vault can be used. */ Active = "active", /** Locked: vault calls fail with `ELOCKED`. */ Locked = "locked" }
);

/// A session just opened by `login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (pass it to the vault calls).
    pub sid: SessionId,
    /// Whose session it is.
    pub user: UserId,
    /// Its state (`active` after login).
    pub state: SessionState,
}

/// A session as `session.status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// Whose session it is.
    pub user: UserId,
    /// Its state.
    pub state: SessionState,
}

fn sid_args(sid: &SessionId) -> Args {
    Args::new().with("sid", sid.to_string())
}

fn password(p: &str) -> Value {
    Value::Text(p.to_owned())
}

fn state_is(r: &ReplyMap, want: SessionState) -> Result<(), KeychainError> {
    let got = SessionState::read(r, "state")?;
    if got == want {
        Ok(())
    } else {
        Err(r.bad("state", "is not the state the op promises"))
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.sid, self.user, self.state)
    }
}

impl Keychain {
    /// `session.login`: open a session for `user`. A wrong password or an
    /// unknown user is `EPERM`; throttled is `EAGAIN`.
    pub fn login(&self, user: &UserId, pw: &str) -> Result<Session, KeychainError> {
        let args = Args::new()
            .with("user", user.as_str())
            .with("password", password(pw));
        let result = self.identityd.call_map("session.login", &args, Retry::Once);
        scrub(args);
        let r = result?;
        Ok(Session {
            sid: r.parse("sid")?,
            user: r.parse("user")?,
            state: SessionState::read(&r, "state")?,
        })
    }

    /// `session.lock`.
    pub fn lock(&self, sid: &SessionId) -> Result<(), KeychainError> {
        let r = self
            .identityd
            .call_map("session.lock", &sid_args(sid), Retry::Once)?;
        state_is(&r, SessionState::Locked)
    }

    /// `session.unlock` with the session user's password.
    pub fn unlock(&self, sid: &SessionId, pw: &str) -> Result<(), KeychainError> {
        let args = sid_args(sid).with("password", password(pw));
        let result = self
            .identityd
            .call_map("session.unlock", &args, Retry::Once);
        scrub(args);
        state_is(&result?, SessionState::Active)
    }

    /// `session.logout`.
    pub fn logout(&self, sid: &SessionId) -> Result<(), KeychainError> {
        self.identityd
            .call_map("session.logout", &sid_args(sid), Retry::Once)?;
        Ok(())
    }

    /// `session.status`.
    pub fn session_status(&self, sid: &SessionId) -> Result<SessionStatus, KeychainError> {
        let r = self
            .identityd
            .call_map("session.status", &sid_args(sid), Retry::Idempotent)?;
        Ok(SessionStatus {
            user: r.parse("user")?,
            state: SessionState::read(&r, "state")?,
        })
    }

    /// `user.create` (needs `identity.user.admin`).
    pub fn user_create(&self, user: &UserId, pw: &str) -> Result<(), KeychainError> {
        let args = Args::new()
            .with("user", user.as_str())
            .with("password", password(pw));
        let result = self.identityd.call_map("user.create", &args, Retry::Once);
        scrub(args);
        result.map(drop)
    }

    /// `user.delete` (needs `identity.user.admin`); the user's vault goes
    /// with it.
    pub fn user_delete(&self, user: &UserId) -> Result<(), KeychainError> {
        let args = Args::new().with("user", user.as_str());
        self.identityd
            .call_map("user.delete", &args, Retry::Once)
            .map(drop)
    }

    /// `user.list` (needs `identity.user.admin`).
    pub fn user_list(&self) -> Result<Vec<UserId>, KeychainError> {
        let r = self
            .identityd
            .call_map("user.list", &Args::new(), Retry::Idempotent)?;
        r.text_list("users")?
            .into_iter()
            .map(|u| {
                u.parse()
                    .map_err(|_| r.bad("users", "holds an invalid user id"))
            })
            .collect()
    }

    /// `user.passwd`: change `user`'s password; the old one proves it.
    pub fn user_passwd(&self, user: &UserId, old: &str, new: &str) -> Result<(), KeychainError> {
        let args = Args::new()
            .with("user", user.as_str())
            .with("old", password(old))
            .with("new", password(new));
        let result = self.identityd.call_map("user.passwd", &args, Retry::Once);
        scrub(args);
        result.map(drop)
    }
}
