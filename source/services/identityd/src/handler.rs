//! identityd's request handler: `user.*`, `session.*` and `status` over
//! [`identity::Identity`].
//!
//! Invariants: the caller is the channel's subject (admin ops are
//! authorized by the policy engine with it); arguments are decoded into
//! the ops' `nexus-proto` types, passwords into zeroizing `SecretText`s
//! that become [`Password`]s, never echoed; every password
//! check (login, unlock, password change) is written to the audit log as
//! an allow or a deny naming the user only.

use identity::{Identity, IdentityError, Password, Session};
use nexus_core::{Coded, ErrorCode, SessionId, Subject, UserId};
use nexus_daemon::AuditLog;
use nexus_proto::{
    self as proto, Empty, Op, SecretText, SessionLock, SessionLogin, SessionLoginReply,
    SessionLogout, SessionState, SessionStatus, SessionStatusReply, SessionUnlock, StateReply,
    Status, StatusReply, UserCreate, UserDelete, UserList, UserListReply, UserPasswd,
};
use wire::{CallContext, Handler, Request, Value, WireError};

/// identityd's service state.
pub struct Identityd {
    identity: Identity,
    status: StatusReply,
    audit: AuditLog,
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
    pub fn new(identity: Identity, status: StatusReply, audit: AuditLog) -> Identityd {
        Identityd {
            identity,
            status,
            audit,
        }
    }

    /// Audit the outcome of a password check. A record that cannot be
    /// written turns the answer into `EIO`: nothing is decided unaudited.
    fn audited<T>(
        &self,
        s: &Subject,
        op: &str,
        user: &UserId,
        r: Result<T, IdentityError>,
    ) -> Result<T, WireError> {
        let reason = match &r {
            Ok(_) => "password",
            Err(e) if e.code() == ErrorCode::Eagain => "throttled",
            Err(e) if e.code() == ErrorCode::Eperm => "password",
            Err(_) => "error",
        };
        let target = format!("user:{user}");
        if let Err(e) = self.audit.record(s, op, &target, r.is_ok(), reason) {
            eprintln!("identityd: audit record failed: {e}");
            return Err(WireError::new(
                ErrorCode::Eio,
                "authorization unavailable: audit sink failed",
            ));
        }
        Ok(r?)
    }

    fn session_of(&self, sid: SessionId, s: &Subject, op: &str) -> Result<Session, WireError> {
        let r = self.identity.session(sid);
        if r.is_err() {
            eprintln!("identityd: {op} from {s}: no such session");
        }
        Ok(r?)
    }

    fn dispatch(&self, s: &Subject, req: &Request) -> Result<Value, WireError> {
        let op = req.op();
        match op {
            Status::NAME => proto::serve::<Status>(req, |_| Ok(self.status.clone())),
            UserCreate::NAME => proto::serve::<UserCreate>(req, |a| {
                self.identity
                    .create_user(s, &a.user, &password(&a.password))?;
                Ok(Empty {})
            }),
            UserDelete::NAME => proto::serve::<UserDelete>(req, |a| {
                self.identity.delete_user(s, &a.user)?;
                Ok(Empty {})
            }),
            UserList::NAME => proto::serve::<UserList>(req, |_| {
                Ok(UserListReply {
                    users: self.identity.list_users(s)?,
                })
            }),
            UserPasswd::NAME => proto::serve::<UserPasswd>(req, |a| {
                let (old, new) = (password(&a.old), password(&a.new));
                let r = self.identity.change_password(&a.user, &old, &new);
                self.audited(s, op, &a.user, r)?;
                Ok(Empty {})
            }),
            SessionLogin::NAME => proto::serve::<SessionLogin>(req, |a| {
                let r = self.identity.login(&a.user, &password(&a.password));
                let session = self.audited(s, op, &a.user, r)?;
                Ok(SessionLoginReply {
                    sid: session.sid,
                    user: session.user,
                    state: state(session.state),
                })
            }),
            SessionLock::NAME => proto::serve::<SessionLock>(req, |a| {
                let sid = self.session_of(a.sid, s, op)?.sid;
                let session = self.identity.lock(sid)?;
                Ok(StateReply {
                    state: state(session.state),
                })
            }),
            SessionUnlock::NAME => proto::serve::<SessionUnlock>(req, |a| {
                let current = self.session_of(a.sid, s, op)?;
                let r = self.identity.unlock(current.sid, &password(&a.password));
                let session = self.audited(s, op, &current.user, r)?;
                Ok(StateReply {
                    state: state(session.state),
                })
            }),
            SessionLogout::NAME => proto::serve::<SessionLogout>(req, |a| {
                let sid = self.session_of(a.sid, s, op)?.sid;
                self.identity.logout(sid)?;
                Ok(Empty {})
            }),
            SessionStatus::NAME => proto::serve::<SessionStatus>(req, |a| {
                let session = self.session_of(a.sid, s, op)?;
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
