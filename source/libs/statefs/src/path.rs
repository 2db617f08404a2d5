//! `state:/…` paths: parsed once, at the edge, into validated segments.

use std::fmt;

/// The most segments a state path may have.
const MAX_DEPTH: usize = 16;
/// The longest segment, in bytes.
const MAX_SEGMENT: usize = 128;

/// Why a string is not a valid state path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// It does not start with `state:/`.
    #[error("state path must start with state:/")]
    Scheme,
    /// A segment is empty, too long, hidden, or has a character outside
    /// `[A-Za-z0-9._-]`.
    #[error("bad state path segment")]
    Segment,
    /// More than 16 segments.
    #[error("state path is too deep")]
    TooDeep,
}

/// A validated `state:/seg/seg/…` path. Segments use `[A-Za-z0-9._-]`, do
/// not start with `.`, and are at most 128 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatePath {
    segments: Vec<String>,
}

fn check_segment(s: &str) -> Result<(), PathError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SEGMENT
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PathError::Segment)
    }
}

impl StatePath {
    /// The root, `state:/`.
    pub fn root() -> Self {
        StatePath {
            segments: Vec::new(),
        }
    }

    /// Parse `state:/a/b`. A trailing `/` is allowed (it names a prefix).
    pub fn parse(s: &str) -> Result<Self, PathError> {
        let rest = s.strip_prefix("state:/").ok_or(PathError::Scheme)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self::root());
        }
        let mut p = Self::root();
        for seg in rest.split('/') {
            p = p.join(seg)?;
        }
        Ok(p)
    }

    /// Build a path from segments.
    pub fn from_segments<I, S>(segments: I) -> Result<Self, PathError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut p = Self::root();
        for s in segments {
            p = p.join(s.as_ref())?;
        }
        Ok(p)
    }

    /// This path with one more segment.
    pub fn join(&self, segment: &str) -> Result<Self, PathError> {
        check_segment(segment)?;
        if self.segments.len() >= MAX_DEPTH {
            return Err(PathError::TooDeep);
        }
        let mut segments = self.segments.clone();
        segments.push(segment.to_owned());
        Ok(StatePath { segments })
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The last segment, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// Whether `self` lies under (or is) `prefix`.
    pub fn starts_with(&self, prefix: &StatePath) -> bool {
        self.segments.starts_with(&prefix.segments)
    }
}

impl fmt::Display for StatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state:/{}", self.segments.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let p = StatePath::parse("state:/keystore/com.a/sign/k1").unwrap();
        assert_eq!(p.segments().len(), 4);
        assert_eq!(p.to_string(), "state:/keystore/com.a/sign/k1");
        assert_eq!(StatePath::parse("state:/").unwrap(), StatePath::root());
        let pre = StatePath::parse("state:/keystore/").unwrap();
        assert!(p.starts_with(&pre));
        assert!(!pre.starts_with(&p));
    }

    #[test]
    fn test_reject_bad_paths() {
        assert_eq!(StatePath::parse("/etc/passwd"), Err(PathError::Scheme));
        for bad in [
            "state:/../x",
            "state:/a//b",
            "state:/.tmp",
            "state:/a/b c",
            "state:/a/\u{0}",
        ] {
            assert_eq!(StatePath::parse(bad), Err(PathError::Segment), "{bad:?}");
        }
        let deep = format!("state:/{}", vec!["a"; 17].join("/"));
        assert_eq!(StatePath::parse(&deep), Err(PathError::TooDeep));
        let long = format!("state:/{}", "a".repeat(129));
        assert_eq!(StatePath::parse(&long), Err(PathError::Segment));
    }
}
