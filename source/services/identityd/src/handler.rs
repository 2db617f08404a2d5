//! identityd's request handler: `user.*`, `session.*` and `status` over
//! [`identity::Identity`].
//!
//! Invariants: the caller is the channel's subject, and every operation is
//! asked as that subject (admin ops are authorized by the policy engine,
//! sessions are controlled by their owner or an administrator, password
//! checks are audited, counted and throttled per caller by identity);
//! arguments are decoded into the ops' `nexus-proto` types, passwords into
//! zeroizing `SecretText`s that become [`Password`]s, never echoed.

use identity::{Identity, Password};
use nexus_core::Subject;
use nexus_proto::{
    self as proto, Empty, Op, SecretText, SessionLock, SessionLogin, SessionLoginReply,
    SessionLogout, SessionState, SessionStatus, SessionStatusReply, SessionUnlock, StateReply,
    Status, StatusReply, UserCreate, UserDelete, UserList, UserListReply, UserPasswd,
};
use std::sync::Arc;
use wire::{CallContext, Handler, Request, Value, WireError};

/// identityd's service state.
pub struct Identityd {
    identity: Arc<Identity>,
    status: StatusReply,
}

impl std::fmt::Debug for Identityd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identityd").finish_non_exhaustive()
    }
}

fn state(s: identity::SessionState) -> SessionState {
    match s {
        identity::SessionState::Active => SessionState::Active,
        identity::SessionState::Locked => SessionState::Locked,
    }
}

fn password(p: &SecretText) -> Password {
    Password::new(p.expose().as_bytes())
}

impl Identityd {
    /// Serve `identity`; `status` is the reply to `status`.
    pub fn new(identity: Arc<Identity>, status: StatusReply) -> Identityd {
        Identityd { identity, status }
    }

    fn dispatch(&self, s: &Subject, req: &Request) -> Result<Value, WireError> {
        let id = &self.identity;
        match req.op() {
            Status::NAME => proto::serve::<Status>(req, |_| Ok(self.status.clone())),
            UserCreate::NAME => proto::serve::<UserCreate>(req, |a| {
                id.create_user(s, &a.user, &password(&a.password))?;
                Ok(Empty {})
            }),
            UserDelete::NAME => proto::serve::<UserDelete>(req, |a| {
                id.delete_user(s, &a.user)?;
                Ok(Empty {})
            }),
            UserList::NAME => proto::serve::<UserList>(req, |_| {
                Ok(UserListReply {
                    users: id.list_users(s)?,
                })
            }),
            UserPasswd::NAME => proto::serve::<UserPasswd>(req, |a| {
                id.change_password(s, &a.user, &password(&a.old), &password(&a.new))?;
                Ok(Empty {})
            }),
            SessionLogin::NAME => proto::serve::<SessionLogin>(req, |a| {
                let session = id.login(s, &a.user, &password(&a.password))?;
                Ok(SessionLoginReply {
                    sid: session.sid,
                    user: session.user,
                    state: state(session.state),
                })
            }),
            SessionLock::NAME => proto::serve::<SessionLock>(req, |a| {
                Ok(StateReply {
                    state: state(id.lock(s, a.sid)?.state),
                })
            }),
            SessionUnlock::NAME => proto::serve::<SessionUnlock>(req, |a| {
                Ok(StateReply {
                    state: state(id.unlock(s, a.sid, &password(&a.password))?.state),
                })
            }),
            SessionLogout::NAME => proto::serve::<SessionLogout>(req, |a| {
                id.logout(s, a.sid)?;
                Ok(Empty {})
            }),
            SessionStatus::NAME => proto::serve::<SessionStatus>(req, |a| {
                let session = id.session(s, a.sid)?;
                Ok(SessionStatusReply {
                    user: session.user,
                    state: state(session.state),
                })
            }),
            other => Err(WireError::unknown_op(other)),
        }
    }
}

impl Handler for Identityd {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        self.dispatch(ctx.subject(), req)
    }
}
