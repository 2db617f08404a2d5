//! The signed manifest: what an artifact is and every file it holds.
//!
//! ```toml
//! format = 1
//! kind = "bundle"            # or "update"
//! name = "com.example.hello"
//! version = "1.2.0"
//! scope = "packages"         # bundle -> packages, update -> updates
//!
//! [[file]]
//! path = "bin/hello"
//! size = 5
//! sha256 = "<64 lowercase hex digits>"
//! ```
//!
//! Invariants: a [`Manifest`] has a kind consistent with its scope, a valid
//! name and version, 1 to [`MAX_FILES`] files with distinct, valid,
//! non-conflicting paths, and a total size of at most [`MAX_TOTAL_BYTES`].
//! File paths follow [`ArtifactPath`]'s rule.

use crate::fields::{FieldError, Fields};
use crate::path::ArtifactPath;
use crate::scope::{Kind, Scope};
use crate::version::{Version, VersionError};
use nexus_core::{Coded, ErrorCode, IdError, Label};
use std::collections::BTreeSet;

/// The manifest's file name inside an artifact directory.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// The signature's file name (minisign's default for the manifest).
pub const SIGNATURE_FILE: &str = "manifest.toml.minisig";
/// The only manifest format version.
pub const MANIFEST_FORMAT: i64 = 1;
/// The largest manifest read, in bytes.
pub const MAX_MANIFEST_LEN: usize = 1 << 20;
/// The most files one artifact may list.
pub const MAX_FILES: usize = 4096;
/// The most bytes all files of one artifact may hold (64 MiB).
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;

/// Why a manifest (or a path in one) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Larger than [`MAX_MANIFEST_LEN`].
    #[error("manifest too large")]
    TooLarge,
    /// Not UTF-8.
    #[error("manifest is not text")]
    NotText,
    /// A structural problem (syntax, missing, unknown or mistyped field).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A format version this build does not know.
    #[error("unsupported manifest format {0}")]
    UnsupportedFormat(i64),
    /// `kind` is not `bundle` or `update`.
    #[error("unknown artifact kind")]
    UnknownKind,
    /// `scope` is not `packages` or `updates`.
    #[error("unknown scope")]
    UnknownScope,
    /// The kind does not belong to the scope.
    #[error("kind {kind} cannot have scope {scope}")]
    KindScopeMismatch {
        /// The manifest's kind.
        kind: Kind,
        /// The manifest's scope.
        scope: Scope,
    },
    /// The name is not a valid label.
    #[error("bad artifact name: {0}")]
    BadName(#[from] IdError),
    /// The version is malformed.
    #[error("bad version: {0}")]
    BadVersion(#[from] VersionError),
    /// A file path breaks the path rule.
    #[error("bad file path")]
    BadPath,
    /// A file path names the manifest or its signature.
    #[error("file path is reserved")]
    ReservedPath,
    /// Two entries have the same path, or one's path is a directory of
    /// another's.
    #[error("duplicate or conflicting file path {0}")]
    PathConflict(String),
    /// `sha256` is not 64 lowercase hex digits.
    #[error("bad sha256")]
    BadHash,
    /// No files, more than [`MAX_FILES`], or more than
    /// [`MAX_TOTAL_BYTES`] in all.
    #[error("artifact must list 1 to {MAX_FILES} files of at most {MAX_TOTAL_BYTES} bytes in all")]
    Bounds,
}

impl Coded for ManifestError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// One file the manifest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Where it lives, relative to the artifact directory.
    pub path: ArtifactPath,
    /// Its length in bytes.
    pub size: u64,
    /// SHA-256 of its contents.
    pub sha256: [u8; 32],
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    kind: Kind,
    name: Label,
    version: Version,
    scope: Scope,
    files: Vec<FileEntry>,
}

fn field_name(f: &mut Fields, name: &'static str) -> Result<String, ManifestError> {
    Ok(f.string(name)?)
}

impl Manifest {
    /// Check and assemble a manifest; files are sorted by path.
    pub fn new(
        kind: Kind,
        name: Label,
        version: Version,
        scope: Scope,
        mut files: Vec<FileEntry>,
    ) -> Result<Self, ManifestError> {
        if kind.scope() != scope {
            return Err(ManifestError::KindScopeMismatch { kind, scope });
        }
        if files.is_empty() || files.len() > MAX_FILES {
            return Err(ManifestError::Bounds);
        }
        let total = files
            .iter()
            .try_fold(0u64, |acc, f| acc.checked_add(f.size))
            .ok_or(ManifestError::Bounds)?;
        if total > MAX_TOTAL_BYTES {
            return Err(ManifestError::Bounds);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut seen = BTreeSet::new();
        for f in &files {
            if !seen.insert(f.path.as_str()) {
                return Err(ManifestError::PathConflict(f.path.to_string()));
            }
        }
        // A path that is also a directory of another path ("a" and "a/b").
        for f in &files {
            let mut prefix = String::new();
            let segs: Vec<&str> = f.path.segments().collect();
            for seg in &segs[..segs.len() - 1] {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(seg);
                if seen.contains(prefix.as_str()) {
                    return Err(ManifestError::PathConflict(prefix));
                }
            }
        }
        Ok(Manifest {
            kind,
            name,
            version,
            scope,
            files,
        })
    }

    /// Parse manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotText)?;
        let mut f = Fields::parse(text)?;
        let format = f.int("format")?;
        if format != MANIFEST_FORMAT {
            return Err(ManifestError::UnsupportedFormat(format));
        }
        let kind = Kind::parse(&field_name(&mut f, "kind")?).ok_or(ManifestError::UnknownKind)?;
        let name = Label::new(field_name(&mut f, "name")?)?;
        let version = Version::parse(&field_name(&mut f, "version")?)?;
        let scope =
            Scope::parse(&field_name(&mut f, "scope")?).ok_or(ManifestError::UnknownScope)?;
        let tables = f.tables("file")?;
        f.finish()?;
        if tables.len() > MAX_FILES {
            return Err(ManifestError::Bounds);
        }
        let mut files = Vec::with_capacity(tables.len());
        for t in tables {
            let mut ff = Fields::from_table(t);
            let path = ArtifactPath::parse(&ff.string("path")?)?;
            let size = ff.u64("size")?;
            let hash_hex = ff.string("sha256")?;
            ff.finish()?;
            let mut sha256 = [0u8; 32];
            let lower = hash_hex.bytes().all(|b| !b.is_ascii_uppercase());
            if !lower || hex::decode_to_slice(&hash_hex, &mut sha256).is_err() {
                return Err(ManifestError::BadHash);
            }
            files.push(FileEntry { path, size, sha256 });
        }
        Self::new(kind, name, version, scope, files)
    }

    /// The manifest's canonical text. Every value is from a restricted
    /// charset, so no TOML escaping is needed.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "format = {MANIFEST_FORMAT}\nkind = \"{}\"\nname = \"{}\"\nversion = \"{}\"\nscope = \"{}\"\n",
            self.kind, self.name, self.version, self.scope
        );
        for f in &self.files {
            out.push_str(&format!(
                "\n[[file]]\npath = \"{}\"\nsize = {}\nsha256 = \"{}\"\n",
                f.path,
                f.size,
                hex::encode(f.sha256)
            ));
        }
        out
    }

    /// Bundle or update.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The artifact's name.
    pub fn name(&self) -> &Label {
        &self.name
    }

    /// The artifact's version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The scope it is signed under.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The files, sorted by path.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: &str, size: u64) -> FileEntry {
        FileEntry {
            path: ArtifactPath::parse(p).unwrap(),
            size,
            sha256: [0xab; 32],
        }
    }

    fn sample() -> Manifest {
        Manifest::new(
            Kind::Bundle,
            Label::new("com.example.hello").unwrap(),
            Version::parse("1.2.0").unwrap(),
            Scope::Packages,
            vec![entry("lib/x.so", 3), entry("bin/hello", 5)],
        )
        .unwrap()
    }

    #[test]
    fn round_trips_and_sorts() {
        let m = sample();
        assert_eq!(m.files()[0].path.as_str(), "bin/hello");
        assert_eq!(Manifest::parse(m.to_toml().as_bytes()).unwrap(), m);
    }

    fn replace(text: &str, from: &str, to: &str) -> Vec<u8> {
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn test_reject_malformed_manifests() {
        let t = sample().to_toml();
        let hash = hex::encode([0xab; 32]);
        let cases: Vec<(Vec<u8>, ManifestError)> = vec![
            (
                replace(&t, "format = 1", "format = 0"),
                ManifestError::UnsupportedFormat(0),
            ),
            (
                replace(&t, "format = 1\n", ""),
                FieldError::Missing("format").into(),
            ),
            (
                replace(&t, "\"bundle\"", "\"app\""),
                ManifestError::UnknownKind,
            ),
            (
                replace(&t, "\"packages\"", "\"all\""),
                ManifestError::UnknownScope,
            ),
            (
                replace(&t, "\"packages\"", "\"updates\""),
                ManifestError::KindScopeMismatch {
                    kind: Kind::Bundle,
                    scope: Scope::Updates,
                },
            ),
            (
                replace(&t, "com.example.hello", "-x"),
                IdError::BadChar.into(),
            ),
            (
                replace(&t, "1.2.0", "1.2.x"),
                VersionError::Component.into(),
            ),
            (replace(&t, "bin/hello", "../hello"), ManifestError::BadPath),
            (
                replace(&t, "bin/hello", "manifest.toml"),
                ManifestError::ReservedPath,
            ),
            (
                replace(&t, "bin/hello", "lib/x.so"),
                ManifestError::PathConflict("lib/x.so".into()),
            ),
            (
                replace(&t, "bin/hello", "lib"),
                ManifestError::PathConflict("lib".into()),
            ),
            (replace(&t, &hash, &hash[..62]), ManifestError::BadHash),
            (
                replace(&t, &hash, &hash.to_uppercase()),
                ManifestError::BadHash,
            ),
            (
                replace(&t, "size = 5", "size = -5"),
                FieldError::OutOfRange("size").into(),
            ),
            (
                replace(&t, "size = 5", "size = \"5\""),
                FieldError::WrongType("size").into(),
            ),
            (
                replace(&t, "size = 5", "size = 67108864"),
                ManifestError::Bounds,
            ),
            (
                replace(&t, "size = 5", "size = 5\nmode = 493"),
                FieldError::Unknown("mode".into()).into(),
            ),
            (
                format!("{t}signer = \"me\"\n").into_bytes(),
                FieldError::Unknown("signer".into()).into(),
            ),
            (
                t.split("\n[[file]]").next().unwrap().as_bytes().to_vec(),
                FieldError::Missing("file").into(),
            ),
            (replace(&t, "[[file]]", "[file]"), FieldError::Syntax.into()),
            (
                t.as_bytes()[..t.len() - 30].to_vec(),
                FieldError::Syntax.into(),
            ),
            (vec![0xc3, 0x28], ManifestError::NotText),
            (vec![b'#'; MAX_MANIFEST_LEN + 1], ManifestError::TooLarge),
        ];
        for (input, want) in cases {
            assert_eq!(Manifest::parse(&input), Err(want.clone()), "{want:?}");
            assert_eq!(want.code(), ErrorCode::Einval);
        }
        let many: Vec<FileEntry> = (0..=MAX_FILES)
            .map(|i| entry(&format!("f{i}"), 0))
            .collect();
        assert_eq!(
            Manifest::new(
                Kind::Update,
                Label::new("os").unwrap(),
                Version::parse("1").unwrap(),
                Scope::Updates,
                many
            ),
            Err(ManifestError::Bounds)
        );
        assert_eq!(
            Manifest::new(
                Kind::Update,
                Label::new("os").unwrap(),
                Version::parse("1").unwrap(),
                Scope::Updates,
                vec![]
            ),
            Err(ManifestError::Bounds)
        );
    }
}
