//! Importing an existing private key: `key.import` (keystored, for
//! callers holding `identity.key.import`) and `km.import` (keymintd, for
//! keystored only).
//!
//! The private key travels as a [`Secret`] (no Debug, no Clone, zeroized
//! on drop) in both requests; nothing replies with it. The reply of
//! `key.import` is that of `key.create`.

use super::keymint::{KeyIdent, KmGenerateReply};
use super::keys::KeyCreateReply;
use crate::schema::ops;
use crate::types::{Alg, Secret};
use nexus_core::Label;

ops! {
    /// `km.import`: wrap the given Ed25519 private key (32-byte seed) for
    /// `ident`; the reply is `km.generate`'s.
    KmImport = "km.import" in Keymintd, capability none, callers ["keystored"];
        args [KmImportArgs { ident: KeyIdent, private: Secret }]
        reply [= KmGenerateReply]

    /// `key.import`: a new key in the caller's namespace from an existing
    /// Ed25519 private key (`alg` must be `Ed25519`, `private` its 32-byte
    /// seed); replies as `key.create`.
    KeyImport = "key.import" in Keystored, capability KeyImport, callers [];
        args [KeyImportArgs { purpose: Label, name: Label, alg: Alg, private: Secret }]
        reply [= KeyCreateReply]
}
