//! keystored's key ops (`key.*`) and `device.info`.
//!
//! `purpose` and `name` are labels; the app is the caller's own key
//! namespace (from the channel). Every op on an existing key takes an
//! optional `app`: a read may name any app a system subject may read; a
//! private op (sign, seal, unseal, rotate, revoke, retire, export, delete)
//! naming any namespace but the caller's own is `EPERM`, whoever asks.

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::{Alg, Bytes, KeyState, Prehash, Secret, VersionState};
use nexus_core::{AppId, Kid, Label};

wire_map!(reply
    /// One version of a key, in `key-info`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    KeyVersionInfo {
        /// Its number.
        version: u32,
        /// Its state.
        state: VersionState,
        /// When it was made (seconds since the Unix epoch).
        created: u64,
        /// Its kid (Ed25519 keys; `null` otherwise).
        kid: Option<Kid>,
        /// Its public key (Ed25519 keys; `null` otherwise).
        public_key: Option<Bytes>,
    }
);

wire_map!(reply
    /// `damaged-key`: a key whose record cannot be read, in `key.list`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    DamagedKey {
        /// The owning app.
        app: AppId,
        /// The purpose label.
        purpose: Label,
        /// The name label.
        name: Label,
        /// Its record (`state:/keystore/…`).
        record: String,
        /// Why it cannot be read (`EIO` and the reason).
        error: String,
    }
);

wire_map!(reply
    /// `key-info`: a key's public metadata.
    #[derive(Debug, Clone, PartialEq, Eq)]
    KeyInfo {
        /// The owning app.
        app: AppId,
        /// The purpose label.
        purpose: Label,
        /// The name label.
        name: Label,
        /// The algorithm.
        alg: Alg,
        /// Active or revoked.
        state: KeyState,
        /// The version new operations use.
        primary: u32,
        /// Versions below this are retired.
        min_version: u32,
        /// When the key was made.
        created: u64,
        /// When it was last rotated (`created` until the first rotation).
        rotated: u64,
        /// Every version.
        versions: Vec<KeyVersionInfo>,
    }
);

ops! {
    /// `key.create`: a new key in the caller's namespace.
    KeyCreate = "key.create" in Keystored, capability KeyCreate, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyCreateArgs { purpose: Label, name: Label, alg: Alg }
        ]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyCreateReply {
                /// The new version (primary now).
                version: u32,
                /// Its kid (Ed25519 keys; `null` otherwise).
                kid: Option<Kid>,
                /// Its public key (Ed25519 keys; `null` otherwise).
                public_key: Option<Bytes>,
                /// Quota warnings (soft limit passed).
                warnings: Vec<String>,
            }
        ]

    /// `key.rotate`: add a version and make it primary.
    KeyRotate = "key.rotate" in Keystored, capability KeyRotate, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyArgs { purpose: Label, name: Label, app: Option<AppId> }
        ]
        reply [= KeyCreateReply]

    /// `key.revoke`: revoke the key, or one version of it.
    KeyRevoke = "key.revoke" in Keystored, capability KeyRevoke, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyVersionArgs {
                purpose: Label,
                name: Label,
                version: Option<u32>,
                app: Option<AppId>,
            }
        ]
        reply [= Empty]

    /// `key.retire`: retire every version below `min_version`.
    KeyRetire = "key.retire" in Keystored, capability KeyRevoke, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyRetireArgs { purpose: Label, name: Label, min_version: u32, app: Option<AppId> }
        ]
        reply [= Empty]

    /// `key.list`: the caller's keys, or (system callers) another app's;
    /// keys whose record cannot be read are listed apart, as damaged.
    KeyList = "key.list" in Keystored, capability none, callers [];
        args [#[derive(Debug, Clone, PartialEq, Eq)] KeyListArgs { app: Option<AppId> }]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyListReply { keys: Vec<KeyInfo>, damaged: Vec<DamagedKey> }
        ]

    /// `key.show`: one key's metadata.
    KeyShow = "key.show" in Keystored, capability none, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyShowArgs { purpose: Label, name: Label, app: Option<AppId> }
        ]
        reply [= KeyInfo]

    /// `key.sign`: sign `msg` with the primary version. With `prehash`,
    /// `msg` is the 64-byte digest of the message. With `show`, the named
    /// key is read first, exactly as `key.show` reads it (same namespace
    /// rule, same audit), its `key-info` comes back as `shown`, and a
    /// read that fails fails the call before anything is signed: one
    /// round trip for a signature over a statement about another key
    /// (attestd's tokens).
    KeySign = "key.sign" in Keystored, capability KeySign, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeySignArgs {
                purpose: Label,
                name: Label,
                msg: Bytes,
                prehash: Option<Prehash>,
                app: Option<AppId>,
                show: Option<KeyShowArgs>,
            }
        ]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeySignReply {
                sig: Bytes,
                kid: Kid,
                version: u32,
                /// The `key-info` of the key `show` named; absent without
                /// `show`.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                shown: Option<KeyInfo>,
            }
        ]

    /// `key.verify`: check `sig` over `msg`; without `version`, every
    /// active version, primary first. A bad signature is `EPERM`. With
    /// `prehash`, `msg` is the 64-byte digest of the message.
    KeyVerify = "key.verify" in Keystored, capability none, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyVerifyArgs {
                purpose: Label,
                name: Label,
                msg: Bytes,
                sig: Bytes,
                version: Option<u32>,
                app: Option<AppId>,
                prehash: Option<Prehash>,
            }
        ]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyVerifyReply { valid: bool, version: u32, kid: Kid }
        ]

    /// `key.seal`: seal `pt` (bound to `aad`) with the primary version.
    KeySeal = "key.seal" in Keystored, capability KeySeal, callers [];
        args [
            KeySealArgs {
                purpose: Label,
                name: Label,
                pt: Secret,
                aad: Option<Bytes>,
                app: Option<AppId>,
            }
        ]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeySealReply { sealed: Bytes, version: u32 }
        ]

    /// `key.unseal`: open a sealed blob with the version that sealed it.
    KeyUnseal = "key.unseal" in Keystored, capability KeyDecrypt, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyUnsealArgs {
                purpose: Label,
                name: Label,
                sealed: Bytes,
                aad: Option<Bytes>,
                app: Option<AppId>,
            }
        ]
        reply [KeyUnsealReply { pt: Secret, version: u32 }]

    /// `key.export`: the key as a blob only this device's keymintd opens.
    KeyExport = "key.export" in Keystored, capability KeyExport, callers [];
        args [= KeyVersionArgs]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            KeyExportReply {
                blob: Bytes,
                app: AppId,
                purpose: Label,
                name: Label,
                version: u32,
                alg: Alg,
            }
        ]

    /// `device.info` (system subjects only).
    DeviceInfo = "device.info" in Keystored, capability none, callers [];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            DeviceInfoReply { device_id: Bytes, insecure: bool, volatile: bool }
        ]
}
