//! Reading artifact directories safely, and the one verification function.
//!
//! Invariants:
//! - The signature is checked before the manifest is parsed, with a key
//!   chosen from the trust store; the signature's key number only narrows
//!   the search, it never supplies a key.
//! - No file is opened through a symlink (`O_NOFOLLOW`), a fifo cannot
//!   block a read (`O_NONBLOCK`), and each opened file must be the same
//!   inode the directory walk saw, so a swap between walk and read is
//!   caught.
//! - The contents returned in a [`VerifiedArtifact`] are the bytes that were
//!   hashed: installing them cannot race with a change on disk.

use crate::error::{shown, TrustError};
use crate::manifest::{
    FileEntry, Manifest, MANIFEST_FILE, MAX_FILES, MAX_MANIFEST_LEN, SIGNATURE_FILE,
};
use crate::minisign::{MinisignSignature, MAX_MINISIGN_FILE};
use crate::path::MAX_PATH_DEPTH;
use crate::scope::Scope;
use crate::store::{Origin, RootEntry, TrustSnapshot, TrustStore};
use crate::stored::SignedManifest;
use keymint::kid::Kid;
use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Device and inode: which file a walk saw.
pub(crate) type FileId = (u64, u64);

/// Why a directory walk stopped.
pub(crate) enum ScanError {
    /// A name no manifest can list (non-UTF-8, or nested too deep).
    Unlistable(String),
    /// More files than any manifest may list.
    TooMany,
    /// A symlink, special file or I/O failure.
    Trust(TrustError),
}

impl From<TrustError> for ScanError {
    fn from(e: TrustError) -> Self {
        ScanError::Trust(e)
    }
}

fn io(path: &str) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::ArtifactIo {
        path: shown(path),
        source,
    }
}

/// Every regular file under `dir` by relative path, except the manifest and
/// its signature at the top. Symlinks and special files are refused.
pub(crate) fn scan(dir: &Path) -> Result<BTreeMap<String, FileId>, ScanError> {
    let mut out = BTreeMap::new();
    walk(dir, "", 0, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut BTreeMap<String, FileId>,
) -> Result<(), ScanError> {
    let shown_dir = if rel.is_empty() { "." } else { rel };
    for entry in fs::read_dir(dir).map_err(io(shown_dir))? {
        let entry = entry.map_err(io(shown_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            let lossy = format!("{rel}{}", name.to_string_lossy());
            return Err(ScanError::Unlistable(shown(&lossy)));
        };
        if rel.is_empty() && (name == MANIFEST_FILE || name == SIGNATURE_FILE) {
            continue;
        }
        let path = format!("{rel}{name}");
        // DirEntry::metadata does not follow symlinks.
        let meta = entry.metadata().map_err(io(&path))?;
        if meta.is_dir() {
            if depth + 1 >= MAX_PATH_DEPTH {
                return Err(ScanError::Unlistable(shown(&format!("{path}/"))));
            }
            walk(&entry.path(), &format!("{path}/"), depth + 1, out)?;
        } else if meta.is_file() {
            if out.len() == MAX_FILES {
                return Err(ScanError::TooMany);
            }
            out.insert(path, (meta.dev(), meta.ino()));
        } else {
            return Err(TrustError::NotRegularFile(shown(&path)).into());
        }
    }
    Ok(())
}

/// Open `dir/rel` without following a symlink and without blocking on a
/// fifo; `None` if it does not exist. The result is a regular file.
pub(crate) fn open_plain(
    dir: &Path,
    rel: &str,
) -> Result<Option<(File, fs::Metadata)>, TrustError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(dir.join(rel), flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        // ELOOP: the final component is a symlink.
        Err(e) if e == rustix::io::Errno::LOOP => {
            return Err(TrustError::NotRegularFile(shown(rel)))
        }
        Err(e) => return Err(io(rel)(e.into())),
    };
    let meta = file.metadata().map_err(io(rel))?;
    if !meta.is_file() {
        return Err(TrustError::NotRegularFile(shown(rel)));
    }
    Ok(Some((file, meta)))
}

/// Read at most `limit + 1` bytes, so an oversized input is seen as such
/// without reading all of it.
pub(crate) fn read_bounded(file: File, limit: u64, rel: &str) -> Result<Vec<u8>, TrustError> {
    let mut buf = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io(rel))?;
    Ok(buf)
}

fn read_top(dir: &Path, name: &str, limit: usize) -> Result<Option<Vec<u8>>, TrustError> {
    match open_plain(dir, name)? {
        None => Ok(None),
        Some((f, _)) => read_bounded(f, limit as u64, name).map(Some),
    }
}

/// A signed artifact that passed every check in [`verify`]. It can only be
/// made by `verify`, and holds the exact bytes that were checked.
pub struct VerifiedArtifact {
    manifest: Manifest,
    signer: Kid,
    signer_origin: Origin,
    trusted_comment: String,
    signed: SignedManifest,
    contents: Vec<Vec<u8>>,
}

impl fmt::Debug for VerifiedArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedArtifact")
            .field("kind", &self.manifest.kind())
            .field("name", &self.manifest.name())
            .field("version", &self.manifest.version().as_str())
            .field("files", &self.manifest.files().len())
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl VerifiedArtifact {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The kid of the root that signed it.
    pub fn signer(&self) -> Kid {
        self.signer
    }

    /// Whether that root is a system or an installed one.
    pub fn signer_origin(&self) -> Origin {
        self.signer_origin
    }

    /// The signed trusted comment.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// SHA-256 of the manifest bytes as signed.
    pub fn manifest_sha256(&self) -> &[u8; 32] {
        self.signed.sha256()
    }

    /// The manifest and signature exactly as verified, to keep with the
    /// installed files and verify again later ([`crate::verify_signed`]).
    pub fn signed(&self) -> &SignedManifest {
        &self.signed
    }

    /// Each file with the verified bytes, in manifest order.
    pub fn files(&self) -> impl Iterator<Item = (&FileEntry, &[u8])> {
        self.manifest
            .files()
            .iter()
            .zip(self.contents.iter().map(Vec::as_slice))
    }
}

/// The root whose key made the message signature.
fn find_signer<'a>(
    snapshot: &'a TrustSnapshot,
    sig: &MinisignSignature,
    manifest: &[u8],
) -> Result<&'a RootEntry, TrustError> {
    let mut claimed = false;
    for entry in snapshot.roots() {
        if let Some(id) = entry.root.minisign_key_id() {
            if id != sig.key_id() {
                continue;
            }
            claimed = true;
        }
        if sig.verify_message(entry.root.key(), manifest).is_ok() {
            return Ok(entry);
        }
    }
    Err(if claimed {
        TrustError::BadSignature
    } else {
        TrustError::UnknownSigner
    })
}

/// The artifact's files must be exactly the manifest's, byte for byte.
fn check_files(dir: &Path, manifest: &Manifest) -> Result<Vec<Vec<u8>>, TrustError> {
    let found = scan(dir).map_err(|e| match e {
        ScanError::Unlistable(p) => TrustError::UnlistedFile(p),
        ScanError::TooMany => {
            TrustError::UnlistedFile("(more files than any manifest lists)".into())
        }
        ScanError::Trust(t) => t,
    })?;
    let listed: BTreeMap<&str, &FileEntry> = manifest
        .files()
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    if let Some(extra) = found.keys().find(|p| !listed.contains_key(p.as_str())) {
        return Err(TrustError::UnlistedFile(shown(extra)));
    }
    let mut contents = Vec::with_capacity(manifest.files().len());
    for f in manifest.files() {
        let rel = f.path.as_str();
        let seen = found
            .get(rel)
            .ok_or_else(|| TrustError::MissingFile(rel.to_owned()))?;
        let (file, meta) =
            open_plain(dir, rel)?.ok_or_else(|| TrustError::MissingFile(rel.to_owned()))?;
        if (meta.dev(), meta.ino()) != *seen {
            return Err(TrustError::NotRegularFile(rel.to_owned()));
        }
        let bytes = read_bounded(file, f.size, rel)?;
        if bytes.len() as u64 != f.size {
            return Err(TrustError::SizeMismatch(rel.to_owned()));
        }
        if Sha256::digest(&bytes).as_slice() != f.sha256 {
            return Err(TrustError::HashMismatch(rel.to_owned()));
        }
        contents.push(bytes);
    }
    Ok(contents)
}

/// What a signature check established.
pub(crate) struct Signed<'a> {
    pub(crate) manifest: Manifest,
    pub(crate) signer: &'a RootEntry,
    pub(crate) trusted_comment: String,
}

/// Steps 3 to 6 of [`verify`]: a root in `snapshot` made the signature,
/// may vouch for `scope` at `now`, signed the trusted comment too, and the
/// manifest (parsed only now) is for `scope`.
pub(crate) fn check_signature<'a>(
    snapshot: &'a TrustSnapshot,
    sig_bytes: &[u8],
    manifest_bytes: &[u8],
    scope: Scope,
    now: u64,
) -> Result<Signed<'a>, TrustError> {
    let sig = MinisignSignature::parse(sig_bytes)?;
    let signer = match find_signer(snapshot, &sig, manifest_bytes) {
        Ok(s) => s,
        // A damaged root might be the one that signed it.
        Err(TrustError::UnknownSigner) => match snapshot.any_damaged_root() {
            Some(d) => return Err(d.into()),
            None => return Err(TrustError::UnknownSigner),
        },
        Err(e) => return Err(e),
    };
    let root = &signer.root;
    let kid = root.kid();
    if signer.distrusted {
        return Err(TrustError::Distrusted(kid));
    }
    if let Some(d) = snapshot.distrust_unknown(&kid) {
        return Err(d.into());
    }
    if now < root.not_before() {
        return Err(TrustError::NotYetValid(kid));
    }
    if now >= root.not_after() {
        return Err(TrustError::Expired(kid));
    }
    if !root.allows(scope) {
        return Err(TrustError::ScopeNotAllowed { kid, scope });
    }
    sig.verify_trusted_comment(root.key())
        .map_err(|_| TrustError::BadSignature)?;
    let manifest = Manifest::parse(manifest_bytes)?;
    if manifest.scope() != scope {
        return Err(TrustError::WrongScope {
            expected: scope,
            found: manifest.scope(),
        });
    }
    Ok(Signed {
        manifest,
        signer,
        trusted_comment: sig.trusted_comment().to_owned(),
    })
}

/// The one verification path. Checks, in order: the trust store loads
/// (fail closed); the artifact has a signature and a manifest; a root in
/// the store made the signature (if none did and a root file is damaged,
/// `EIO` naming it: it may be the signer); that root is not distrusted
/// (nor is its distrust entry, or the distrust list, damaged: `EIO`), is
/// valid at `now` (`not_before <= now < not_after`) and holds `scope`;
/// the trusted comment's signature verifies; the manifest parses and is
/// for `scope`; the directory holds exactly the listed files (regular
/// files only, no extras) with the signed sizes and SHA-256 hashes.
pub fn verify(
    store: &TrustStore,
    artifact_dir: &Path,
    scope: Scope,
    now: u64,
) -> Result<VerifiedArtifact, TrustError> {
    let snapshot = store.load()?;
    let sig_bytes =
        read_top(artifact_dir, SIGNATURE_FILE, MAX_MINISIGN_FILE)?.ok_or(TrustError::Unsigned)?;
    let manifest_bytes = read_top(artifact_dir, MANIFEST_FILE, MAX_MANIFEST_LEN)?
        .ok_or(TrustError::MissingManifest)?;
    let checked = check_signature(&snapshot, &sig_bytes, &manifest_bytes, scope, now)?;
    let contents = check_files(artifact_dir, &checked.manifest)?;
    Ok(VerifiedArtifact {
        signer: checked.signer.root.kid(),
        signer_origin: checked.signer.origin,
        trusted_comment: checked.trusted_comment,
        signed: SignedManifest::new(manifest_bytes, sig_bytes),
        manifest: checked.manifest,
        contents,
    })
}
