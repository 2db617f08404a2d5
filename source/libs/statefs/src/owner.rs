//! Which records of a shared state directory a daemon owns.
//!
//! Several daemons share one state directory; each daemon's state root
//! covers only its own records. A pattern is a `/`-separated list of
//! segments: a literal segment, `*` (any one segment) or, last only, `**`
//! (one or more segments). `keystore/**` owns every file under
//! `state:/keystore/`; `identity/*/vault.kv` owns each user's vault file
//! and nothing else under `state:/identity/`.

use crate::path::{PathError, StatePath};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
    Rest,
}

/// A set of ownership patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ownership {
    patterns: Vec<Vec<Seg>>,
}

impl Ownership {
    /// Parse patterns such as `keystore/**`, `identity/*/vault.kv`.
    pub fn new(patterns: &[&str]) -> Result<Ownership, PathError> {
        let mut out = Vec::new();
        for p in patterns {
            let parts: Vec<&str> = p.split('/').collect();
            let mut segs = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                segs.push(match *part {
                    "*" => Seg::One,
                    "**" if i + 1 == parts.len() => Seg::Rest,
                    lit => {
                        StatePath::root().join(lit)?;
                        Seg::Lit(lit.to_owned())
                    }
                });
            }
            out.push(segs);
        }
        Ok(Ownership { patterns: out })
    }

    /// Every path (a single process holding all the state: tests, tools).
    pub fn everything() -> Ownership {
        Ownership {
            patterns: vec![vec![Seg::Rest]],
        }
    }

    /// Whether this owns the file at `path`.
    pub fn owns(&self, path: &StatePath) -> bool {
        let segs = path.segments();
        self.patterns.iter().any(|pat| {
            let mut i = 0;
            for s in pat {
                match s {
                    Seg::Rest => return segs.len() > i,
                    Seg::One if i < segs.len() => i += 1,
                    Seg::Lit(l) if segs.get(i) == Some(l) => i += 1,
                    _ => return false,
                }
            }
            i == segs.len()
        })
    }

    /// The directories where owned files can be, as literal prefixes (the
    /// part of each pattern before its first wildcard), with whether files
    /// can be deeper than one level below them.
    pub(crate) fn search_roots(&self) -> Vec<StatePath> {
        let mut roots: Vec<StatePath> = Vec::new();
        for pat in &self.patterns {
            let mut p = StatePath::root();
            for s in pat.iter().take(pat.len().saturating_sub(1)) {
                match s {
                    Seg::Lit(l) => match p.join(l) {
                        Ok(q) => p = q,
                        Err(_) => break,
                    },
                    _ => break,
                }
            }
            if !roots.iter().any(|r| p.starts_with(r)) {
                roots.retain(|r| !r.starts_with(&p));
                roots.push(p);
            }
        }
        roots.sort();
        roots
    }

    /// Whether no pattern is given.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).unwrap()
    }

    #[test]
    fn patterns_match_what_they_say() {
        let o = Ownership::new(&["keystore/**", "identity/*/vault.kv", "update/state"]).unwrap();
        for yes in [
            "state:/keystore/a",
            "state:/keystore/a/b/c",
            "state:/identity/alice/vault.kv",
            "state:/update/state",
        ] {
            assert!(o.owns(&p(yes)), "{yes}");
        }
        for no in [
            "state:/keystore",
            "state:/identity/alice/user",
            "state:/identity/vault.kv",
            "state:/identity/a/b/vault.kv",
            "state:/update/state/x",
            "state:/update",
            "state:/trust/x",
        ] {
            assert!(!o.owns(&p(no)), "{no}");
        }
        assert!(Ownership::everything().owns(&p("state:/any/thing")));
        assert!(!Ownership::default().owns(&p("state:/any")));
        assert_eq!(
            o.search_roots(),
            vec![
                p("state:/identity"),
                p("state:/keystore"),
                p("state:/update")
            ]
        );
        assert_eq!(
            Ownership::everything().search_roots(),
            vec![StatePath::root()]
        );
    }

    #[test]
    fn test_reject_bad_patterns() {
        for bad in [&["a/**/b"][..], &["../x"], &["a//b"], &[".tmp"], &["a b"]] {
            assert!(Ownership::new(bad).is_err(), "{bad:?}");
        }
    }
}
