//! The publisher side: describe a folder in a manifest and sign it with a
//! minisign secret key or any other [`MinisignSigner`] (a keystore key),
//! producing exactly what [`crate::verify`] checks (and what
//! `minisign -V` accepts).
//!
//! Invariants: only regular files with listable paths are signed (no
//! symlinks, no special files); the manifest and signature are written
//! with `create_new`, after removing any previous ones, so a planted
//! symlink cannot redirect the write.

use crate::artifact::{open_plain, read_bounded, scan, ScanError};
use crate::error::TrustError;
use crate::manifest::{
    FileEntry, Manifest, ManifestError, MANIFEST_FILE, MAX_TOTAL_BYTES, SIGNATURE_FILE,
};
use crate::minisign::{digest, MinisignSecretKey, MinisignSignature, MinisignSigner};
use crate::path::ArtifactPath;
use crate::scope::{Kind, Scope};
use crate::version::Version;
use nexus_core::Label;
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The untrusted comment on signatures this library writes.
pub const UNTRUSTED_COMMENT: &str = "signature from nexus publisher";

/// A manifest describing every file under `dir` (except an existing
/// manifest and signature at the top).
pub fn build_manifest(
    dir: &Path,
    kind: Kind,
    name: Label,
    version: Version,
    scope: Scope,
) -> Result<Manifest, TrustError> {
    let found = scan(dir).map_err(|e| match e {
        ScanError::Unlistable(_) => TrustError::Manifest(ManifestError::BadPath),
        ScanError::TooMany => TrustError::Manifest(ManifestError::Bounds),
        ScanError::Trust(t) => t,
    })?;
    let mut files = Vec::with_capacity(found.len());
    for (rel, seen) in &found {
        let path = ArtifactPath::parse(rel)?;
        let (file, meta) =
            open_plain(dir, rel)?.ok_or_else(|| TrustError::MissingFile(rel.clone()))?;
        if (meta.dev(), meta.ino()) != *seen {
            return Err(TrustError::NotRegularFile(rel.clone()));
        }
        let bytes = read_bounded(file, MAX_TOTAL_BYTES, rel)?;
        files.push(FileEntry {
            path,
            size: bytes.len() as u64,
            sha256: Sha256::digest(&bytes).into(),
        });
    }
    Ok(Manifest::new(kind, name, version, scope, files)?)
}

fn write_fresh(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), TrustError> {
    let io = |source| TrustError::ArtifactIo {
        path: name.to_owned(),
        source,
    };
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Sign a manifest's text; what `minisign -S -m manifest.toml -t comment`
/// would produce with the same key.
pub fn sign_manifest(
    manifest: &Manifest,
    key: &MinisignSecretKey,
    trusted_comment: &str,
) -> Result<MinisignSignature, TrustError> {
    sign_manifest_with(manifest, key, trusted_comment)
}

/// [`sign_manifest`] with any signer (a keystore key signs through
/// keystored: the manifest's BLAKE2b-512 digest, then the global
/// signature).
pub fn sign_manifest_with(
    manifest: &Manifest,
    signer: &dyn MinisignSigner,
    trusted_comment: &str,
) -> Result<MinisignSignature, TrustError> {
    Ok(MinisignSignature::sign_digest_with(
        signer,
        &digest(manifest.to_toml().as_bytes()),
        trusted_comment,
        UNTRUSTED_COMMENT,
    )?)
}

/// Describe `dir` in a manifest, sign it, and write `manifest.toml` and
/// `manifest.toml.minisig` into `dir`. Returns the manifest.
pub fn sign_artifact(
    dir: &Path,
    kind: Kind,
    name: Label,
    version: Version,
    scope: Scope,
    key: &MinisignSecretKey,
    trusted_comment: &str,
) -> Result<Manifest, TrustError> {
    sign_artifact_with(dir, kind, name, version, scope, key, trusted_comment)
}

/// [`sign_artifact`] with any signer: nothing is written unless both
/// signatures were made and verify with the signer's public key.
pub fn sign_artifact_with(
    dir: &Path,
    kind: Kind,
    name: Label,
    version: Version,
    scope: Scope,
    signer: &dyn MinisignSigner,
    trusted_comment: &str,
) -> Result<Manifest, TrustError> {
    let manifest = build_manifest(dir, kind, name, version, scope)?;
    let sig = sign_manifest_with(&manifest, signer, trusted_comment)?;
    write_fresh(dir, MANIFEST_FILE, manifest.to_toml().as_bytes())?;
    write_fresh(dir, SIGNATURE_FILE, sig.to_text().as_bytes())?;
    Ok(manifest)
}
