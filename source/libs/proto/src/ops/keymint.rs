//! keymintd's ops (private: only the identity services, each only its
//! own; the state and trust keys are in `state_keys`).
//!
//! Key identity arguments are the map [`KeyIdent`]; plaintexts and auth
//! secrets are [`Secret`]s. An auth secret is 32 bytes: keymintd refuses
//! any other length (`argument `auth` is invalid`).

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::{Alg, Bytes, Secret};
use nexus_core::{AppId, Label, SessionId, UserId};
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
            KmDeviceReply { device_id: Bytes, insecure: bool }
        ]

    /// `km.vault_key.create`: a new vault key for `user`, wrapped under
    /// the auth secret.
    KmVaultKeyCreate = "km.vault_key.create" in Keymintd, capability none, callers ["identityd"];
        args [KmVaultKeyCreateArgs { user: UserId, auth: Secret }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] WrappedReply { wrapped: Bytes }]

    /// `km.vault_key.rewrap`: rewrap a vault key from the `old` auth
    /// secret to the `new` one.
    KmVaultKeyRewrap = "km.vault_key.rewrap" in Keymintd, capability none, callers ["identityd"];
        args [KmVaultKeyRewrapArgs { user: UserId, old: Secret, new: Secret, wrapped: Bytes }]
        reply [= WrappedReply]

    /// `km.session.unseal`: unseal `user`'s vault key for session `sid`.
    KmSessionUnseal = "km.session.unseal" in Keymintd, capability none, callers ["identityd"];
        args [KmSessionUnsealArgs { sid: SessionId, user: UserId, auth: Secret, wrapped: Bytes }]
        reply [= Empty]

    /// `km.session.end`: forget the session's unsealed key.
    KmSessionEnd = "km.session.end" in Keymintd, capability none, callers ["identityd"];
        args [#[derive(Debug, Clone, PartialEq, Eq)] SidArgs { sid: SessionId }]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmSessionEndReply { was_unsealed: bool }]

    /// `km.session.end_all`: forget every session (identityd at start).
    KmSessionEndAll = "km.session.end_all" in Keymintd, capability none, callers ["identityd"];
        args [= Empty]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmSessionEndAllReply { ended: u64 }]

    /// `km.session.user`: whose key the session holds, if any.
    KmSessionUser = "km.session.user" in Keymintd, capability none, callers ["keystored"];
        args [= SidArgs]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KmSessionUserReply { user: Option<UserId> }]

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
