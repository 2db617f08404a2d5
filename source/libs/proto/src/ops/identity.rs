//! identityd's ops: users (`user.*`) and sessions (`session.*`).
//! Passwords are [`SecretText`]s.

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::{SecretText, SessionState};
use nexus_core::{SessionId, UserId};

wire_map!(args
    /// `{user}`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    UserArgs {
        /// The user.
        user: UserId,
    }
);

wire_map!(args
    /// `{user, password}`.
    UserPasswordArgs {
        /// The user.
        user: UserId,
        /// The password.
        password: SecretText,
    }
);

wire_map!(reply
    /// `{state}`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    StateReply {
        /// The session's state now.
        state: SessionState,
    }
);

ops! {
    /// `user.create` (system subjects holding `identity.user.admin`).
    UserCreate = "user.create" in Identityd, capability UserAdmin, callers [];
        args [= UserPasswordArgs]
        reply [= Empty]

    /// `user.delete`: the user and their vault.
    UserDelete = "user.delete" in Identityd, capability UserAdmin, callers [];
        args [= UserArgs]
        reply [= Empty]

    /// `user.list`.
    UserList = "user.list" in Identityd, capability UserAdmin, callers [];
        args [= Empty]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] UserListReply { users: Vec<UserId> }]

    /// `user.passwd`: the old password proves it.
    UserPasswd = "user.passwd" in Identityd, capability none, callers [];
        args [UserPasswdArgs { user: UserId, old: SecretText, new: SecretText }]
        reply [= Empty]

    /// `session.login`: open a session.
    SessionLogin = "session.login" in Identityd, capability none, callers [];
        args [= UserPasswordArgs]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            SessionLoginReply { sid: SessionId, user: UserId, state: SessionState }
        ]

    /// `session.lock`.
    SessionLock = "session.lock" in Identityd, capability none, callers [];
        args [#[derive(Debug, Clone, PartialEq, Eq)] SessionArgs { sid: SessionId }]
        reply [= StateReply]

    /// `session.unlock` with the session user's password.
    SessionUnlock = "session.unlock" in Identityd, capability none, callers [];
        args [SessionUnlockArgs { sid: SessionId, password: SecretText }]
        reply [= StateReply]

    /// `session.logout`.
    SessionLogout = "session.logout" in Identityd, capability none, callers [];
        args [= SessionArgs]
        reply [= Empty]

    /// `session.status`.
    SessionStatus = "session.status" in Identityd, capability none, callers [];
        args [= SessionArgs]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            SessionStatusReply { user: UserId, state: SessionState }
        ]
}
