//! The trust domain's error type and its stable codes.
//!
//! Mapping: an untrusted, unsigned, wrongly signed, expired, not yet
//! valid, distrusted or out-of-scope artifact is `EPERM`; a file that does
//! not match the signed manifest (tampered, missing, extra, not a regular
//! file) is `EIO`; a malformed manifest, signature or root is `EINVAL`; a
//! damaged or unreadable trust store is `EIO`. Messages name kids, scopes
//! and artifact-relative paths, never key material or file contents.

use crate::damage::DamagedEntry;
use crate::manifest::ManifestError;
use crate::minisign::MinisignError;
use crate::root::RootError;
use crate::scope::Scope;
use keymint::kid::Kid;
use nexus_core::{AuthzError, Coded, ErrorCode};
use statefs::StateError;

/// Everything that can go wrong in the trust store and in verification.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The system root directory is missing or unreadable: fail closed.
    #[error("system trust store (pkg://trust/) unavailable: {source}")]
    SystemStoreUnavailable {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record of the store (a root file, a distrust entry or the
    /// distrust list itself) cannot be used, and the answer depends on it.
    #[error("trust store record {location} is damaged: {reason}")]
    Damaged {
        /// `pkg://trust/…` or `state:/trust/…`.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A write through a store opened only to read (bundlemgrd, updated).
    #[error("this trust store is read-only here")]
    ReadOnly,
    /// statefs failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A root offered for installation is malformed.
    #[error("invalid root: {0}")]
    InvalidRoot(#[from] RootError),
    /// The authorizer said no (or could not decide).
    #[error(transparent)]
    Authz(#[from] AuthzError),
    /// Trust store writes are for system callers only.
    #[error("only system callers may write the trust store")]
    SystemOnly,
    /// Only a system caller may install a root with the `updates` scope.
    #[error("only system callers may install a root with the updates scope")]
    UpdatesScopeRequiresSystem,
    /// The root or distrust entry is already there.
    #[error("{0} is already present")]
    AlreadyPresent(Kid),
    /// No installed root has this kid.
    #[error("no installed root {0}")]
    NotFound(Kid),
    /// A system root cannot be removed; distrust it instead.
    #[error("{0} is a system root: distrust it instead")]
    SystemRoot(Kid),
    /// The artifact has no signature file.
    #[error("artifact is not signed")]
    Unsigned,
    /// No root in the store made the signature.
    #[error("artifact is signed by an unknown key")]
    UnknownSigner,
    /// The signature or the trusted comment's signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The signing root is distrusted.
    #[error("signing root {0} is distrusted")]
    Distrusted(Kid),
    /// The signing root is not valid yet.
    #[error("signing root {0} is not valid yet")]
    NotYetValid(Kid),
    /// The signing root has expired.
    #[error("signing root {0} has expired")]
    Expired(Kid),
    /// The signing root may not vouch for this scope.
    #[error("signing root {kid} is not trusted for {scope}")]
    ScopeNotAllowed {
        /// The signing root.
        kid: Kid,
        /// The scope asked for.
        scope: Scope,
    },
    /// The manifest is for another scope than the one asked for.
    #[error("artifact is for scope {found}, expected {expected}")]
    WrongScope {
        /// The scope the caller needs.
        expected: Scope,
        /// The manifest's scope.
        found: Scope,
    },
    /// The signature file is malformed (or a signing input was refused).
    #[error("signature: {0}")]
    Minisign(#[from] MinisignError),
    /// The manifest is malformed.
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// The artifact has no manifest.
    #[error("artifact has no manifest")]
    MissingManifest,
    /// A listed file is absent.
    #[error("file {0} is missing")]
    MissingFile(String),
    /// A listed file has another size than signed.
    #[error("file {0} has the wrong size")]
    SizeMismatch(String),
    /// A listed file has another hash than signed.
    #[error("file {0} has the wrong hash")]
    HashMismatch(String),
    /// A file is present that the manifest does not list.
    #[error("file {0} is not in the manifest")]
    UnlistedFile(String),
    /// A symlink, device, fifo or socket sits in the artifact.
    #[error("{0} is not a regular file")]
    NotRegularFile(String),
    /// Reading or writing the artifact directory failed.
    #[error("artifact I/O error at {path}: {source}")]
    ArtifactIo {
        /// The artifact-relative path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Coded for TrustError {
    fn code(&self) -> ErrorCode {
        use TrustError as E;
        match self {
            E::SystemStoreUnavailable { .. } | E::Damaged { .. } => ErrorCode::Eio,
            E::State(e) => e.code(),
            E::Authz(e) => e.code(),
            E::InvalidRoot(_) | E::Manifest(_) | E::MissingManifest => ErrorCode::Einval,
            // A signing failure keeps the signer's code (a keystore key:
            // keystored's refusal); malformed signatures are EINVAL.
            E::Minisign(e) => e.code(),
            E::ReadOnly
            | E::SystemOnly
            | E::UpdatesScopeRequiresSystem
            | E::SystemRoot(_)
            | E::Unsigned
            | E::UnknownSigner
            | E::BadSignature
            | E::Distrusted(_)
            | E::NotYetValid(_)
            | E::Expired(_)
            | E::ScopeNotAllowed { .. }
            | E::WrongScope { .. } => ErrorCode::Eperm,
            E::AlreadyPresent(_) => ErrorCode::Ealready,
            E::NotFound(_) => ErrorCode::Enoent,
            E::MissingFile(_)
            | E::SizeMismatch(_)
            | E::HashMismatch(_)
            | E::UnlistedFile(_)
            | E::NotRegularFile(_)
            | E::ArtifactIo { .. } => ErrorCode::Eio,
        }
    }
}

impl TrustError {
    /// The damaged record this error is about, if it names one: a trust
    /// store record, or a kept file (`state:/…`) that differs from its
    /// manifest. For the daemon's damage report.
    pub fn damaged_record(&self) -> Option<nexus_core::DamagedRecord> {
        use nexus_core::DamagedRecord as R;
        let kept = |p: &str, why: &str| {
            p.starts_with("state:/")
                .then(|| R::new(p.to_owned(), why.to_owned()))
        };
        match self {
            TrustError::Damaged { location, reason } => {
                Some(R::new(location.clone(), reason.clone()))
            }
            TrustError::MissingFile(p) => kept(p, "missing"),
            TrustError::SizeMismatch(p) => kept(p, "wrong size"),
            TrustError::HashMismatch(p) => kept(p, "wrong hash"),
            TrustError::UnlistedFile(p) => kept(p, "not in the manifest"),
            TrustError::NotRegularFile(p) => kept(p, "not a regular file"),
            TrustError::State(
                e @ (StateError::Corrupt { path, .. }
                | StateError::Io { path, .. }
                | StateError::Integrity { path, .. }),
            ) => Some(R::new(path.clone(), e.detail())),
            _ => None,
        }
    }
}

/// Escape a name read from disk before it goes into a message: it may hold
/// control characters or terminal escapes.
pub(crate) fn shown(name: &str) -> String {
    name.chars()
        .take(160)
        .flat_map(char::escape_debug)
        .collect()
}

impl From<&DamagedEntry> for TrustError {
    fn from(d: &DamagedEntry) -> Self {
        TrustError::Damaged {
            location: d.location.clone(),
            reason: d.reason.clone(),
        }
    }
}

impl From<statefs::PathError> for TrustError {
    fn from(e: statefs::PathError) -> Self {
        TrustError::State(StateError::Path(e))
    }
}
