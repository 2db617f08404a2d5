//! The unified trust store and the one verification path for signed
//! artifacts (bundles and system updates).
//!
//! - [`TrustStore`]: system roots shipped read-only with the image
//!   (`pkg://trust/`, format 2 with a checksum line), installed roots
//!   (`state:/trust/installed/`) and a distrust list
//!   (`state:/trust/distrusted/`, plus an optional shipped
//!   `pkg://trust/distrusted/`) that overrides both; the state side is
//!   vouched for by a MAC'd manifest. A damaged record is kept with what
//!   it leaves unknown ([`DamagedEntry`]) and fails only the answers that
//!   depend on it.
//! - [`verify`]: the only way anything in the system accepts an artifact;
//!   [`verify_signed`] and [`check_stored_files`] verify it again, as
//!   kept in the state store, when it is activated or read.
//! - [`minisign`]: the signature and key formats, compatible with the stock
//!   `minisign` tool.
//! - [`sign_artifact`]: the publisher side.
//!
//! Invariants: fail closed (no system trust directory, a damaged store or
//! any doubt about an artifact is an error, never an acceptance); the key
//! that verifies an artifact always comes from the store, never from the
//! artifact; system/installed is decided by location, never by content.

#![forbid(unsafe_code)]

mod artifact;
mod damage;
mod error;
mod fields;
mod installed;
mod load;
mod manifest;
pub mod minisign;
mod path;
mod root;
mod scope;
mod sign;
mod store;
mod stored;
mod version;

pub use artifact::{verify, VerifiedArtifact};
pub use damage::{DamagedEntry, Unknown};
pub use error::TrustError;
pub use fields::FieldError;
pub use manifest::{
    FileEntry, Manifest, ManifestError, MANIFEST_FILE, MAX_FILES, MAX_MANIFEST_LEN,
    MAX_TOTAL_BYTES, SIGNATURE_FILE,
};
pub use path::{ArtifactPath, MAX_PATH_DEPTH, MAX_SEGMENT_LEN};
pub use root::{
    distrust_toml, parse_distrust, parse_distrust_any, RootError, TrustRoot, ALGORITHM,
    LEGACY_ROOT_FORMAT, MAX_ROOT_FILE, ROOT_FORMAT,
};
pub use scope::{Kind, Scope};
pub use sign::{
    build_manifest, sign_artifact, sign_artifact_with, sign_manifest, sign_manifest_with,
    UNTRUSTED_COMMENT,
};
pub use store::{Origin, RootEntry, RootUpdate, TrustSnapshot, TrustStore, SYSTEM_LOCATION};
pub use stored::{check_stored_files, stored_path, verify_signed, Reverified, SignedManifest};
pub use version::{Version, VersionError, MAX_VERSION_LEN, MAX_VERSION_PARTS};

pub use keymint::kid::Kid;
