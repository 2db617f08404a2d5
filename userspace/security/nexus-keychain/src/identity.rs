//! identityd: users and sessions.
//!
//! Retry class: `session.status` and `user.list` are retried after a
//! lost connection ([`Retry::Idempotent`]); every other op is sent once (a repeated login makes a
//! second session; a repeated unlock or wrong password counts twice
//! against throttling; user changes must not be replayed). Passwords
//! travel in zeroizing `SecretText`s, the encoded request is wiped after
//! the call, and they never appear in an error.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::service::{Retry, Service};
use nexus_core::{SessionId, UserId};
use nexus_proto::{
    self as proto, Empty, SecretText, SessionArgs, SessionState, SessionUnlockArgs, UserArgs,
    UserPasswdArgs, UserPasswordArgs,
};
use std::fmt;

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

fn sid_args(sid: &SessionId) -> SessionArgs {
    SessionArgs { sid: *sid }
}

fn user_password(user: &UserId, pw: &str) -> UserPasswordArgs {
    UserPasswordArgs {
        user: user.clone(),
        password: SecretText::copy_from(pw),
    }
}

fn state_is(op: &'static str, got: SessionState, want: SessionState) -> Result<(), KeychainError> {
    if got == want {
        Ok(())
    } else {
        Err(KeychainError::BadReply {
            service: Service::Identityd,
            op,
            detail: "`state` is not the state the op promises".into(),
        })
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
        let r = self
            .identityd
            .call_op::<proto::SessionLogin>(&user_password(user, pw), Retry::Once)?;
        Ok(Session {
            sid: r.sid,
            user: r.user,
            state: r.state,
        })
    }

    /// `session.lock`.
    pub fn lock(&self, sid: &SessionId) -> Result<(), KeychainError> {
        let r = self
            .identityd
            .call_op::<proto::SessionLock>(&sid_args(sid), Retry::Once)?;
        state_is("session.lock", r.state, SessionState::Locked)
    }

    /// `session.unlock` with the session user's password.
    pub fn unlock(&self, sid: &SessionId, pw: &str) -> Result<(), KeychainError> {
        let args = SessionUnlockArgs {
            sid: *sid,
            password: SecretText::copy_from(pw),
        };
        let r = self
            .identityd
            .call_op::<proto::SessionUnlock>(&args, Retry::Once)?;
        state_is("session.unlock", r.state, SessionState::Active)
    }

    /// `session.logout`.
    pub fn logout(&self, sid: &SessionId) -> Result<(), KeychainError> {
        self.identityd
            .call_op::<proto::SessionLogout>(&sid_args(sid), Retry::Once)?;
        Ok(())
    }

    /// `session.status`.
    pub fn session_status(&self, sid: &SessionId) -> Result<SessionStatus, KeychainError> {
        let r = self
            .identityd
            .call_op::<proto::SessionStatus>(&sid_args(sid), Retry::Idempotent)?;
        Ok(SessionStatus {
            user: r.user,
            state: r.state,
        })
    }

    /// `user.create` (needs `identity.user.admin`).
    pub fn user_create(&self, user: &UserId, pw: &str) -> Result<(), KeychainError> {
        self.identityd
            .call_op::<proto::UserCreate>(&user_password(user, pw), Retry::Once)
            .map(drop)
    }

    /// `user.delete` (needs `identity.user.admin`); the user's vault goes
    /// with it.
    pub fn user_delete(&self, user: &UserId) -> Result<(), KeychainError> {
        let args = UserArgs { user: user.clone() };
        self.identityd
            .call_op::<proto::UserDelete>(&args, Retry::Once)
            .map(drop)
    }

    /// `user.list` (needs `identity.user.admin`).
    pub fn user_list(&self) -> Result<Vec<UserId>, KeychainError> {
        let r = self
            .identityd
            .call_op::<proto::UserList>(&Empty {}, Retry::Idempotent)?;
        Ok(r.users)
    }

    /// `user.passwd`: change `user`'s password; the old one proves it.
    pub fn user_passwd(&self, user: &UserId, old: &str, new: &str) -> Result<(), KeychainError> {
        let args = UserPasswdArgs {
            user: user.clone(),
            old: SecretText::copy_from(old),
            new: SecretText::copy_from(new),
        };
        self.identityd
            .call_op::<proto::UserPasswd>(&args, Retry::Once)
            .map(drop)
    }
}
