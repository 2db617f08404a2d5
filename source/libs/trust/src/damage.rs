//! Damaged records of the trust store, and what each leaves unknown.
//!
//! A root file or distrust entry that cannot be read is not dropped (that
//! would widen trust: a lost distrust entry lets its root verify again)
//! and does not make the whole store unusable (that would stop every
//! verification, and every daemon that opens the store, for one file).
//! Instead each damaged record is kept with what it leaves unknown, and a
//! verification fails with `EIO` naming it only when its answer could
//! depend on that record:
//!
//! - a damaged root (its kid known from the file name, or not): an
//!   artifact that no intact root signed might be its;
//! - a damaged distrust entry (its kid known from the file name): whether
//!   that kid is distrusted;
//! - a damaged distrust list (the directory is not one, or an entry's
//!   name is no kid): whether any root is distrusted;
//! - a damaged, missing or rolled-back state-side manifest (the record
//!   that vouches for every installed root and distrust entry): both
//!   whether any root is distrusted and which roots are installed;
//! - an entry of the state side that its manifest does not list (a
//!   leftover of an interrupted write, or planted): nothing. It is never
//!   read, only reported, and keystored removes it at its next start.

use keymint::kid::Kid;
use nexus_core::DamagedRecord;

/// What a damaged record leaves unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// A root: its kid, if the file's name gives it.
    Root(Option<Kid>),
    /// Whether this kid is distrusted.
    DistrustOf(Kid),
    /// Whether any kid is distrusted.
    DistrustList,
    /// Everything the state side says: which roots are installed and
    /// which kids are distrusted (its manifest cannot be used).
    StateSide,
    /// Nothing: an entry the state side's manifest does not list.
    Nothing,
}

/// A record of the store that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedEntry {
    /// `pkg://trust/…` or `state:/trust/…`.
    pub location: String,
    /// What is wrong (never the contents).
    pub reason: String,
    /// What it leaves unknown.
    pub unknown: Unknown,
}

impl DamagedEntry {
    pub(crate) fn new(location: String, reason: impl ToString, unknown: Unknown) -> Self {
        DamagedEntry {
            location,
            reason: reason.to_string(),
            unknown,
        }
    }

    /// Whether it leaves unknown if `kid` is distrusted.
    pub fn hides_distrust_of(&self, kid: &Kid) -> bool {
        match self.unknown {
            Unknown::DistrustList | Unknown::StateSide => true,
            Unknown::DistrustOf(k) => k == *kid,
            Unknown::Root(_) | Unknown::Nothing => false,
        }
    }

    /// Whether it is a root that may have made a signature no intact root
    /// verifies.
    pub fn may_be_a_root(&self) -> bool {
        matches!(self.unknown, Unknown::Root(_) | Unknown::StateSide)
    }

    /// As a daemon reports it.
    pub fn record(&self) -> DamagedRecord {
        DamagedRecord::new(self.location.clone(), self.reason.clone())
    }
}

/// The kid a root file's name (`<kid>.toml`) gives, if any.
pub(crate) fn kid_of_root_name(name: &str) -> Option<Kid> {
    name.strip_suffix(".toml")
        .and_then(|hex| Kid::from_hex(hex).ok())
}

/// The kid a distrust entry's name (`<kid>`) gives, if any.
pub(crate) fn kid_of_distrust_name(name: &str) -> Option<Kid> {
    Kid::from_hex(name).ok()
}

/// A damaged distrust entry named `name`: that kid's status, or the whole
/// list's when the name is no kid.
pub(crate) fn distrust_damage(location: String, name: &str, reason: impl ToString) -> DamagedEntry {
    let unknown = match kid_of_distrust_name(name) {
        Some(k) => Unknown::DistrustOf(k),
        None => Unknown::DistrustList,
    };
    DamagedEntry::new(location, reason, unknown)
}

/// A damaged root file named `name`.
pub(crate) fn root_damage(location: String, name: &str, reason: impl ToString) -> DamagedEntry {
    DamagedEntry::new(location, reason, Unknown::Root(kid_of_root_name(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_kids_only_when_exact() {
        let hex = "ab".repeat(32);
        let kid = Kid::from_hex(&hex).unwrap();
        assert_eq!(kid_of_root_name(&format!("{hex}.toml")), Some(kid));
        assert_eq!(kid_of_root_name(&hex), None);
        assert_eq!(kid_of_distrust_name(&hex), Some(kid));
        assert_eq!(kid_of_distrust_name(&format!("{hex}.toml")), None);
        let d = distrust_damage("x".into(), "junk", "bad");
        assert!(d.hides_distrust_of(&kid) && !d.may_be_a_root());
        let d = distrust_damage("x".into(), &hex, "bad");
        assert!(d.hides_distrust_of(&kid));
        assert!(!d.hides_distrust_of(&Kid::from_hex(&"cd".repeat(32)).unwrap()));
        assert!(root_damage("x".into(), "junk", "bad").may_be_a_root());
        let whole = DamagedEntry::new("m".into(), "bad", Unknown::StateSide);
        assert!(whole.hides_distrust_of(&kid) && whole.may_be_a_root());
        let stray = DamagedEntry::new("s".into(), "unlisted", Unknown::Nothing);
        assert!(!stray.hides_distrust_of(&kid) && !stray.may_be_a_root());
    }
}
