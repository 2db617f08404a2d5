//! Artifact file paths: relative, `/`-separated, at most [`MAX_PATH_DEPTH`]
//! segments, each segment from `[A-Za-z0-9._-]`, not starting with `.` (so
//! no `.` or `..`), at most [`MAX_SEGMENT_LEN`] bytes. That is exactly
//! statefs's segment rule, so every listed file has a place under
//! `state:/`. The manifest and signature names are reserved at the top.

use crate::manifest::{ManifestError, MANIFEST_FILE, SIGNATURE_FILE};
use std::fmt;

/// The most segments a file path may have.
pub const MAX_PATH_DEPTH: usize = 8;
/// The longest path segment, in bytes (statefs's limit).
pub const MAX_SEGMENT_LEN: usize = 128;

/// A validated relative file path (see the module docs for the rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// Validate a `/`-separated relative path.
    pub fn parse(s: &str) -> Result<Self, ManifestError> {
        let mut depth = 0;
        for seg in s.split('/') {
            depth += 1;
            let ok = !seg.is_empty()
                && seg.len() <= MAX_SEGMENT_LEN
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok || depth > MAX_PATH_DEPTH {
                return Err(ManifestError::BadPath);
            }
        }
        if s == MANIFEST_FILE || s == SIGNATURE_FILE {
            return Err(ManifestError::ReservedPath);
        }
        Ok(ArtifactPath(s.to_owned()))
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reject_bad_paths() {
        let long = "a".repeat(MAX_SEGMENT_LEN + 1);
        let deep = ["d"; MAX_PATH_DEPTH + 1].join("/");
        for bad in [
            "",
            "/abs",
            "a/",
            "a//b",
            "..",
            "../x",
            "a/../b",
            ".",
            "./a",
            ".hidden",
            "a/.b",
            "a\\b",
            "a b",
            "é",
            "a\0",
            long.as_str(),
            deep.as_str(),
        ] {
            assert_eq!(
                ArtifactPath::parse(bad),
                Err(ManifestError::BadPath),
                "{bad:?}"
            );
        }
        assert_eq!(
            ArtifactPath::parse(MANIFEST_FILE),
            Err(ManifestError::ReservedPath)
        );
        assert_eq!(
            ArtifactPath::parse(SIGNATURE_FILE),
            Err(ManifestError::ReservedPath)
        );
        assert!(ArtifactPath::parse("sub/manifest.toml").is_ok());
        assert!(ArtifactPath::parse(&["d"; MAX_PATH_DEPTH].join("/")).is_ok());
    }
}
