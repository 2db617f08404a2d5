//! keymintd's ops (private: only the identity services, each only its
//! own; the state and trust keys are in `state_keys`).
//!
//! Key identity arguments are the map [`KeyIdent`]; plaintexts and auth
//! secrets are [`Secret`]s. An auth secret is 32 bytes: keymintd refuses
//! any other length (`argument `auth` is invalid`).

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::{Alg, Bytes, KmSessionState, Secret};
use nexus_core::{AppId, InstanceId, Label, SessionId, UserId};
use std::num::NonZeroU32;

wire_map!(reply
    /// `ident`: the key version a wrapped blob belongs to. `version` is
    /// 1..=2^32−1.
    #[derive(Debug, Clone, PartialEq, Eq)]
    KeyIdent {
        /// The owning app.
        app: AppId,
        /// The key's purpose.
        purpose: Label,
        /// The key's name.
        name: Label,
        /// The key version.
        version: NonZeroU32,
        /// The algorithm.
        alg: Alg,
    }
);

wire_map!(reply
    /// `owner`: whose vault key (the user instance it is bound to; the
    /// name, which binds keys of the first format; whether the instance
    /// was upgraded from such a name-bound user).
    #[derive(Debug, Clone, PartialEq, Eq)]
    KmOwner {
        /// The user's name.
        user: UserId,
        /// The user instance.
        instance: InstanceId,
        /// Upgraded from a name-bound user of the first format.
        legacy: bool,
    }
);

wire_map!(reply
    /// `session-ref`: a session as identityd knows it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    KmSessionRef {
        /// The session.
        sid: SessionId,
        /// Whose it is.
        owner: KmOwner,
        /// Whether identityd has it unlocked.
        active: bool,
    }
);

ops! {
    /// `km.generate`: new material for `ident`, wrapped for this device.
    KmGenerate = "km.generate" in Keymintd, capability none, callers ["keystored"];
        args [#[derive(Debug, Clone, PartialEq, Eq)] KmGenerateArgs { ident: KeyIdent }]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmGenerateReply {
                /// The wrapped material.
                wrapped: Bytes,
                /// The public key (Ed25519); `null` for XChaCha20-Poly1305.
                public: Option<Bytes>,
            }
        ]

    /// `km.sign`: sign `msg` with the Ed25519 key in `wrapped`.
    KmSign = "km.sign" in Keymintd, capability none, callers ["keystored"];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmSignArgs { ident: KeyIdent, wrapped: Bytes, msg: Bytes }
        ]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmSignReply { sig: Bytes }]

    /// `km.seal`: seal `pt` (bound to `aad`) with the data key in `wrapped`.
    KmSeal = "km.seal" in Keymintd, capability none, callers ["keystored"];
        args [KmSealArgs { ident: KeyIdent, wrapped: Bytes, aad: Bytes, pt: Secret }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] SealedReply { sealed: Bytes }]

    /// `km.unseal`: open `sealed` (bound to `aad`).
    KmUnseal = "km.unseal" in Keymintd, capability none, callers ["keystored"];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmUnsealArgs { ident: KeyIdent, wrapped: Bytes, aad: Bytes, sealed: Bytes }
        ]
        reply [PlaintextReply { pt: Secret }]

    /// `km.device`: the device id and whether keys are insecure.
    KmDevice = "km.device" in Keymintd, capability none, callers ["keystored", "identityd"];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmDeviceReply {
                /// The device id.
                device_id: Bytes,
                /// Whether keys are insecure (deterministic test build).
                insecure: bool,
                /// 16 random bytes drawn when this keymintd started: a
                /// changed value means its session table was lost.
                boot_id: Bytes,
            }
        ]

    /// `km.vault_key.create`: a new vault key for `owner`'s instance,
    /// wrapped under the auth secret.
    KmVaultKeyCreate = "km.vault_key.create" in Keymintd, capability none, callers ["identityd"];
        args [KmVaultKeyCreateArgs { owner: KmOwner, auth: Secret }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] WrappedReply { wrapped: Bytes }]

    /// `km.vault_key.rewrap`: rewrap a vault key from the `old` auth
    /// secret to the `new` one.
    KmVaultKeyRewrap = "km.vault_key.rewrap" in Keymintd, capability none, callers ["identityd"];
        args [KmVaultKeyRewrapArgs { owner: KmOwner, old: Secret, new: Secret, wrapped: Bytes }]
        reply [= WrappedReply]

    /// `km.session.unseal`: unseal `owner`'s vault key for session `sid`.
    KmSessionUnseal = "km.session.unseal" in Keymintd, capability none, callers ["identityd"];
        args [KmSessionUnsealArgs { sid: SessionId, owner: KmOwner, auth: Secret, wrapped: Bytes }]
        reply [= Empty]

    /// `km.session.lock`: forget the session's unsealed key; the session
    /// stays known (locked).
    KmSessionLock = "km.session.lock" in Keymintd, capability none, callers ["identityd"];
        args [#[derive(Debug, Clone, PartialEq, Eq)] SidArgs { sid: SessionId }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmSessionEndReply { was_unsealed: bool }]

    /// `km.session.end`: forget the session.
    KmSessionEnd = "km.session.end" in Keymintd, capability none, callers ["identityd"];
        args [= SidArgs]
        reply [= KmSessionEndReply]

    /// `km.session.end_instance`: forget every session of a user
    /// instance (user deletion).
    KmSessionEndInstance = "km.session.end_instance" in Keymintd, capability none, callers ["identityd"];
        args [#[derive(Debug, Clone, PartialEq, Eq)] KmInstanceArgs { instance: InstanceId }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmEndedReply { ended: u64 }]

    /// `km.session.sync`: make keymintd's session table agree with
    /// identityd's (at identityd's start, and after keymintd restarted).
    KmSessionSync = "km.session.sync" in Keymintd, capability none, callers ["identityd"];
        args [#[derive(Debug, Clone, PartialEq, Eq)] KmSessionSyncArgs { sessions: Vec<KmSessionRef> }]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmSessionSyncReply {
                /// The listed sessions whose key is held.
                active: Vec<SessionId>,
                /// Entries dropped because identityd did not list them.
                ended: u64,
            }
        ]

    /// `km.verifier.mac`: the stored password verifier for the verifier
    /// half of an Argon2id output (HMAC under the device's pepper).
    KmVerifierMac = "km.verifier.mac" in Keymintd, capability none, callers ["identityd"];
        args [KmVerifierMacArgs { input: Secret }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmVerifierMacReply { mac: Bytes }]

    /// `km.session.user`: what keymintd knows of a session, and which of
    /// the `others` (sessions the vault has served for the same user
    /// instance, at most [`crate::limits::MAX_SESSION_OTHERS`]) are still
    /// unsealed sessions of that instance: one round trip for the vault's
    /// whole check.
    KmSessionUser = "km.session.user" in Keymintd, capability none, callers ["keystored"];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmSessionUserArgs { sid: SessionId, others: Vec<SessionId> }
        ]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmSessionUserReply {
                /// `active`, `locked` or `unknown`.
                state: KmSessionState,
                /// Whose session, when `active`.
                owner: Option<KmOwner>,
                /// The listed `others` that are unsealed sessions of the
                /// same instance (empty unless `active`).
                others: Vec<SessionId>,
                /// The session table's stamp when this answer was given
                /// (`keymint::SessionStamp`'s 25-byte form).
                stamp: Bytes,
            }
        ]

    /// `km.forget`: drop every unwrapped copy keymintd keeps of the key
    /// `app/purpose/name`, all versions (keystored revoked, retired or
    /// deleted some of them).
    KmForget = "km.forget" in Keymintd, capability none, callers ["keystored"];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmForgetArgs { app: AppId, purpose: Label, name: Label }
        ]
        reply [= Empty]

    /// `km.vault.seal`: seal with the session's vault key.
    KmVaultSeal = "km.vault.seal" in Keymintd, capability none, callers ["keystored"];
        args [KmVaultSealArgs { sid: SessionId, aad: Bytes, pt: Secret }]
        reply [= SealedReply]

    /// `km.vault.unseal`: open with the session's vault key.
    KmVaultUnseal = "km.vault.unseal" in Keymintd, capability none, callers ["keystored"];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KmVaultUnsealArgs { sid: SessionId, aad: Bytes, sealed: Bytes }
        ]
        reply [= PlaintextReply]
}
