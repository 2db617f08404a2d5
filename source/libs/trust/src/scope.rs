//! Scopes (what a root may sign for) and artifact kinds (what an artifact
//! is). Each kind belongs to exactly one scope, so a manifest whose kind
//! and scope disagree is malformed.

use std::fmt;

/// What a trust root may vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Application bundles installed by bundlemgrd.
    Packages,
    /// System updates staged by updated.
    Updates,
}

impl Scope {
    /// Every scope, in a fixed order.
    pub const ALL: [Scope; 2] = [Scope::Packages, Scope::Updates];

    /// The scope's name in root files and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Packages => "packages",
            Scope::Updates => "updates",
        }
    }

    /// Parse a scope name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a signed artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An application bundle (scope `packages`).
    Bundle,
    /// A system update (scope `updates`).
    Update,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 2] = [Kind::Bundle, Kind::Update];

    /// The kind's name in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bundle => "bundle",
            Kind::Update => "update",
        }
    }

    /// Parse a kind name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The one scope artifacts of this kind are signed under.
    pub fn scope(self) -> Scope {
        match self {
            Kind::Bundle => Scope::Packages,
            Kind::Update => Scope::Updates,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::Bundle.scope(), Scope::Packages);
        assert_eq!(Kind::Update.scope(), Scope::Updates);
    }

    #[test]
    fn test_reject_unknown_names() {
        for bad in ["", "Packages", "package", "updates ", "*"] {
            assert_eq!(Scope::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Kind::parse("Bundle"), None);
    }
}
