//! keystore: the key records keystored serves.
//!
//! A key is named `(appId, purpose, name)` ([`KeyName`]) and has numbered
//! versions. Each key has one algorithm (Ed25519 for signing keys,
//! XChaCha20-Poly1305 for sealing keys), a lifecycle state, a primary
//! version and a minimum version; each version has its own state, its
//! public key and kid (Ed25519) and its material wrapped by keymint.
//! [`KeyStore`] implements create, import, rotate, revoke, retire, list,
//! describe, public key, sign and verify (plain or prehashed), seal,
//! unseal and export-wrapped over
//! `state:/keystore/<app>/<purpose>/<name>`.
//!
//! Invariants:
//! - This crate never holds private key bytes: material exists here only as
//!   [`keymint::WrappedKey`] blobs, and every private operation goes through
//!   [`keymint::KeyOps`]. No API returns key material.
//! - The caller's app namespace comes from its [`nexus_core::Subject`]; a
//!   request for another app's key is `EPERM` before anything is looked up.
//!   Private operations are also put to the [`nexus_core::Authorizer`].
//! - A record that is corrupt or of an unknown version is `EIO` for that
//!   key only; nothing is ever reset or overwritten silently.
//! - Signatures and sealed data say which version made them, so old
//!   versions keep verifying and unsealing after a rotation until retired.

#![forbid(unsafe_code)]

mod access;
mod crypto;
mod error;
mod import;
mod model;
mod prehash;
mod quota;
mod record;
pub mod sealfmt;
mod store;

pub use error::KeystoreError;
pub use model::{
    ExportedKey, KeyInfo, KeyName, KeySelector, KeyState, KeyUse, Outcome, PublicKeyInfo,
    RevokeScope, SealOutput, SignOutput, Unsealed, VersionInfo, VersionState,
};
pub use prehash::{Prehash, PREHASH_LEN};
pub use quota::{DefaultQuota, QuotaResource, QuotaSource, QuotaWarning, Usage, DEFAULT_QUOTA};
pub use record::{RECORD_MAGIC, RECORD_VERSION};
pub use store::KeyStore;

/// The largest AAD a seal or unseal accepts, in bytes. AAD binds context
/// (a file name, a record id), not bulk data.
pub const MAX_AAD_LEN: usize = 4096;

/// The most versions one key may have; a rotation beyond it is `EDQUOTA`.
/// Retire old versions (their metadata stays, small) or use a new name.
pub const MAX_VERSIONS: u32 = 256;
