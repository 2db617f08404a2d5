//! identityd's request handler: `user.*`, `session.*` and `status` over
//! [`identity::Identity`].
//!
//! Invariants: the caller is the channel's subject (admin ops are
//! authorized by the policy engine with it); password arguments become
//! zeroizing [`Password`]s at once and are never echoed; every password
//! check (login, unlock, password change) is written to the audit log as
//! an allow or a deny naming the user only.

use identity::{Identity, IdentityError, Password, Session, SessionState};
use nexus_core::{Coded, ErrorCode, SessionId, Subject, UserId};
use nexus_daemon::AuditLog;
use wire::{Args, CallContext, Handler, Request, Value, WireError};

/// identityd's service state.
pub struct Identityd {
    identity: Identity,
    status: Value,
    audit: AuditLog,
}

impl std::fmt::Debug for Identityd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identityd").finish_non_exhaustive()
    }
}

fn state(s: SessionState) -> &'static str {
    match s {
        SessionState::Active => "active",
        SessionState::Locked => "locked",
    }
}

fn password(a: &Args, name: &str) -> Result<Password, WireError> {
    Ok(Password::new(a.text(name)?.as_bytes()))
}

impl Identityd {
    /// Serve `identity`; `status` is the reply to `status`.
    pub fn new(identity: Identity, status: Value, audit: AuditLog) -> Identityd {
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

    fn session_of(&self, a: &Args, s: &Subject, op: &str) -> Result<Session, WireError> {
        let sid: SessionId = a.parse("sid")?;
        let r = self.identity.session(sid);
        if r.is_err() {
            eprintln!("identityd: {op} from {s}: no such session");
        }
        Ok(r?)
    }

    fn dispatch(&self, s: &Subject, op: &str, a: &Args) -> Result<Value, WireError> {
        let empty = || Value::Map(Vec::new());
        match op {
            "status" => {
                a.only(&[])?;
                Ok(self.status.clone())
            }
            "user.create" => {
                a.only(&["user", "password"])?;
                let user: UserId = a.parse("user")?;
                self.identity
                    .create_user(s, &user, &password(a, "password")?)?;
                Ok(empty())
            }
            "user.delete" => {
                a.only(&["user"])?;
                self.identity.delete_user(s, &a.parse("user")?)?;
                Ok(empty())
            }
            "user.list" => {
                a.only(&[])?;
                let users = self
                    .identity
                    .list_users(s)?
                    .into_iter()
                    .map(|u| Value::Text(u.as_str().to_owned()))
                    .collect();
                Ok(Args::new().with("users", Value::Array(users)).into_value())
            }
            "user.passwd" => {
                a.only(&["user", "old", "new"])?;
                let user: UserId = a.parse("user")?;
                let (old, new) = (password(a, "old")?, password(a, "new")?);
                let r = self.identity.change_password(&user, &old, &new);
                self.audited(s, op, &user, r)?;
                Ok(empty())
            }
            "session.login" => {
                a.only(&["user", "password"])?;
                let user: UserId = a.parse("user")?;
                let r = self.identity.login(&user, &password(a, "password")?);
                let session = self.audited(s, op, &user, r)?;
                Ok(Args::new()
                    .with("sid", session.sid.to_string())
                    .with("user", session.user.as_str())
                    .with("state", state(session.state))
                    .into_value())
            }
            "session.lock" => {
                a.only(&["sid"])?;
                let sid = self.session_of(a, s, op)?.sid;
                let session = self.identity.lock(sid)?;
                Ok(Args::new().with("state", state(session.state)).into_value())
            }
            "session.unlock" => {
                a.only(&["sid", "password"])?;
                let current = self.session_of(a, s, op)?;
                let r = self.identity.unlock(current.sid, &password(a, "password")?);
                let session = self.audited(s, op, &current.user, r)?;
                Ok(Args::new().with("state", state(session.state)).into_value())
            }
            "session.logout" => {
                a.only(&["sid"])?;
                let sid = self.session_of(a, s, op)?.sid;
                self.identity.logout(sid)?;
                Ok(empty())
            }
            "session.status" => {
                a.only(&["sid"])?;
                let session = self.session_of(a, s, op)?;
                Ok(Args::new()
                    .with("user", session.user.as_str())
                    .with("state", state(session.state))
                    .into_value())
            }
            other => Err(WireError::unknown_op(other)),
        }
    }
}

impl Handler for Identityd {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        self.dispatch(ctx.subject(), req.op(), req.args())
    }
}
