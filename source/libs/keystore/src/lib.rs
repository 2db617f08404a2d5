//! keystore: the key records keystored serves.
//!
//! A key is named `(appId, purpose, name)` ([`KeyName`]) and has numbered
//! versions. Each key has one algorithm (Ed25519 for signing keys,
//! XChaCha20-Poly1305 for sealing keys), a lifecycle state, a primary
//! version and a minimum version; each version has its own state, its
//! public key and kid (Ed25519) and its material wrapped by keymint.
//! [`KeyStore`] implements create, import, rotate, revoke, retire, delete,
//! list, describe, public key, sign and verify (plain or prehashed), seal,
//! unseal and export-wrapped over `state:/keystore/<app>/<purpose>/<name>`,
//! and the move of keys out of the once-shared `system` namespace
//! ([`namespaces`]).
//!
//! Invariants:
//! - This crate never holds private key bytes: material exists here only as
//!   [`keymint::WrappedKey`] blobs, and every private operation goes through
//!   [`keymint::KeyOps`]. No API returns key material.
//! - The caller's key namespace comes from its [`nexus_core::Subject`]
//!   (each system service has its own, `system.<name>`); a private
//!   operation on another namespace's key is `EPERM` before anything is
//!   looked up, whoever asks. Private operations are also put to the
//!   [`nexus_core::Authorizer`].
//! - A record that is corrupt or of an unknown version is `EIO` for that
//!   key only (listings name it as damaged); nothing is ever reset or
//!   overwritten silently.
//! - Size limits are `nexus_proto::limits`: whatever is accepted can be
//!   taken back (unsealed, verified) through every hop.
//! - Decoded records are cached ([`RECORD_CACHE_MAX`]) only after they
//!   passed every check or were written here; every write of the keystore
//!   updates or drops its record's entry before it returns.
//! - Signatures and sealed data say which version made them, so old
//!   versions keep verifying and unsealing after a rotation until retired.

#![forbid(unsafe_code)]

mod access;
mod cache;
mod crypto;
mod delete;
mod error;
mod import;
mod listing;
mod model;
pub mod namespaces;
mod prehash;
mod publics;
mod quota;
mod record;
pub mod sealfmt;
mod store;

pub use cache::RECORD_CACHE_MAX;
pub use error::KeystoreError;
pub use listing::{DamagedKey, Listing};
pub use model::{
    ExportedKey, KeyInfo, KeyName, KeySelector, KeyState, KeyUse, Outcome, PublicKeyInfo,
    RevokeScope, SealOutput, SignOutput, Unsealed, VersionInfo, VersionState,
};
pub use namespaces::{Moved, SharedNamespaceUpgrade, Stayed};
pub use prehash::{Prehash, PREHASH_LEN};
pub use quota::{DefaultQuota, QuotaResource, QuotaSource, QuotaWarning, Usage, DEFAULT_QUOTA};
pub use record::{RECORD_MAGIC, RECORD_VERSION, RECORD_VERSIONS};
pub use store::KeyStore;

/// The size limits of sign, verify, seal and unseal: defined once, for
/// every hop, in `nexus_proto::limits`.
pub use nexus_proto::limits::{MAX_AAD_LEN, MAX_MESSAGE_LEN, MAX_PLAINTEXT_LEN, MAX_SEALED_LEN};

/// The most versions one key may have; a rotation beyond it is `EDQUOTA`.
/// Retire old versions (their metadata stays, small) or use a new name.
pub const MAX_VERSIONS: u32 = 256;
