//! Signed artifacts kept in the state store (installed bundles, update
//! slots), verified again whenever they are activated or read.
//!
//! Installing keeps the manifest and its signature exactly as verified
//! ([`SignedManifest`], which the service stores inside its own record)
//! beside the files it wrote under one state directory. Later:
//! - [`verify_signed`] checks the kept signature against the trust store
//!   as it is *now*, with the same checks as [`crate::verify`]: a root
//!   distrusted, expired or removed since is refused;
//! - [`check_stored_files`] checks that the files under the state
//!   directory are exactly the manifest's, byte for byte: a changed,
//!   missing or extra file, a symlink or a special file is `EIO` naming
//!   its `state:/` path.
//!
//! Invariants: nothing under the directory is followed or skipped; the
//! bytes returned are the bytes that were hashed.

use crate::artifact::check_signature;
use crate::error::{shown, TrustError};
use crate::manifest::{Manifest, ManifestError, MAX_FILES};
use crate::path::MAX_PATH_DEPTH;
use crate::scope::Scope;
use crate::store::{Origin, TrustStore};
use keymint::kid::Kid;
use sha2::{Digest, Sha256};
use statefs::{EntryKind, StateFs, StatePath};
use std::collections::BTreeSet;
use std::fmt;

/// A manifest and its minisign signature, byte for byte as they were
/// verified.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedManifest {
    manifest: Vec<u8>,
    signature: Vec<u8>,
    sha256: [u8; 32],
}

impl fmt::Debug for SignedManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedManifest")
            .field("sha256", &hex::encode(self.sha256))
            .field("manifest_len", &self.manifest.len())
            .field("signature_len", &self.signature.len())
            .finish()
    }
}

impl SignedManifest {
    /// The manifest's and the signature's bytes.
    pub fn new(manifest: Vec<u8>, signature: Vec<u8>) -> Self {
        SignedManifest {
            sha256: Sha256::digest(&manifest).into(),
            manifest,
            signature,
        }
    }

    /// The manifest's bytes.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }

    /// The signature file's bytes.
    pub fn signature_bytes(&self) -> &[u8] {
        &self.signature
    }

    /// SHA-256 of the manifest's bytes.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The manifest, parsed without checking the signature: for a record
    /// that vouches for what it keeps. Activation goes through
    /// [`verify_signed`].
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse(&self.manifest)
    }
}

/// What [`verify_signed`] established.
#[derive(Debug, Clone)]
pub struct Reverified {
    /// The manifest.
    pub manifest: Manifest,
    /// The root that signed it.
    pub signer: Kid,
    /// Whether that root is a system or an installed one.
    pub origin: Origin,
}

/// Check a kept manifest's signature against the store as it is now:
/// steps 1 and 3 to 6 of [`crate::verify`] (the files are checked by
/// [`check_stored_files`]).
pub fn verify_signed(
    store: &TrustStore,
    signed: &SignedManifest,
    scope: Scope,
    now: u64,
) -> Result<Reverified, TrustError> {
    let snapshot = store.load()?;
    let checked = check_signature(&snapshot, &signed.signature, &signed.manifest, scope, now)?;
    Ok(Reverified {
        signer: checked.signer.root.kid(),
        origin: checked.signer.origin,
        manifest: checked.manifest,
    })
}

/// Every regular file under `dir`, by state path; anything else is an
/// error naming it.
fn walk(
    state: &StateFs,
    dir: &StatePath,
    depth: usize,
    out: &mut BTreeSet<StatePath>,
) -> Result<(), TrustError> {
    let Some(entries) = state.entries(dir)? else {
        return Ok(());
    };
    for e in entries {
        let Some(path) = e.path else {
            return Err(TrustError::UnlistedFile(format!(
                "{dir}/{}",
                shown(&e.name)
            )));
        };
        match e.kind {
            EntryKind::File if out.len() < MAX_FILES => {
                out.insert(path);
            }
            EntryKind::File => return Err(TrustError::UnlistedFile(path.to_string())),
            EntryKind::Dir if depth + 1 < MAX_PATH_DEPTH => walk(state, &path, depth + 1, out)?,
            EntryKind::Dir => return Err(TrustError::UnlistedFile(format!("{path}/"))),
            EntryKind::Symlink | EntryKind::Special => {
                return Err(TrustError::NotRegularFile(path.to_string()))
            }
        }
    }
    Ok(())
}

/// The state path of a manifest file under `dir`.
pub fn stored_path(dir: &StatePath, file: &crate::ArtifactPath) -> Result<StatePath, TrustError> {
    let segments = dir
        .segments()
        .iter()
        .map(String::as_str)
        .chain(file.segments());
    Ok(StatePath::from_segments(segments)?)
}

/// The files under `dir` must be exactly `manifest`'s, with the signed
/// sizes and SHA-256 hashes. Returns their bytes in manifest order.
/// Errors name the `state:/` path of the first file that differs.
pub fn check_stored_files(
    state: &StateFs,
    dir: &StatePath,
    manifest: &Manifest,
) -> Result<Vec<Vec<u8>>, TrustError> {
    let mut found = BTreeSet::new();
    walk(state, dir, 0, &mut found)?;
    let mut listed = BTreeSet::new();
    let mut contents = Vec::with_capacity(manifest.files().len());
    for f in manifest.files() {
        let path = stored_path(dir, &f.path)?;
        let shown_path = path.to_string();
        if !found.contains(&path) {
            return Err(TrustError::MissingFile(shown_path));
        }
        let bytes = state
            .read(&path)?
            .ok_or_else(|| TrustError::MissingFile(shown_path.clone()))?;
        if bytes.len() as u64 != f.size {
            return Err(TrustError::SizeMismatch(shown_path));
        }
        if Sha256::digest(&bytes).as_slice() != f.sha256 {
            return Err(TrustError::HashMismatch(shown_path));
        }
        listed.insert(path);
        contents.push(bytes);
    }
    if let Some(extra) = found.difference(&listed).next() {
        return Err(TrustError::UnlistedFile(extra.to_string()));
    }
    Ok(contents)
}
