//! keystored's vault ops (`vault.*`), scoped to the session `sid` (which
//! picks the user) and the caller's app. Values are [`Secret`]s.
//! `vault.purge` is identityd's alone (user deletion).

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::Secret;
use nexus_core::{InstanceId, SessionId, UserId};

wire_map!(args
    /// `{sid, name}`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    VaultNameArgs {
        /// The session.
        sid: SessionId,
        /// The entry name.
        name: String,
    }
);

ops! {
    /// `vault.put`: store `value` under `name`.
    VaultPut = "vault.put" in Keystored, capability VaultUse, callers [];
        args [VaultPutArgs { sid: SessionId, name: String, value: Secret }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] WarningsReply { warnings: Vec<String> }]

    /// `vault.get`: the value under `name`.
    VaultGet = "vault.get" in Keystored, capability VaultUse, callers [];
        args [= VaultNameArgs]
        reply [VaultGetReply { value: Secret }]

    /// `vault.del`: remove `name`.
    VaultDel = "vault.del" in Keystored, capability VaultUse, callers [];
        args [= VaultNameArgs]
        reply [= Empty]

    /// `vault.list`: the names stored for this session's user and the
    /// caller's app.
    VaultList = "vault.list" in Keystored, capability VaultUse, callers [];
        args [#[derive(Debug, Clone, PartialEq, Eq)] VaultListArgs { sid: SessionId }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] VaultListReply { names: Vec<String> }]

    /// `vault.purge`: destroy a deleted user instance's vault, its file
    /// and every decrypted copy (`legacy_user`: also the name-bound file
    /// of an instance upgraded from the first format). identityd only.
    VaultPurge = "vault.purge" in Keystored, capability none, callers ["identityd"];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            VaultPurgeArgs { instance: InstanceId, legacy_user: Option<UserId> }
        ]
        reply [= Empty]
}
