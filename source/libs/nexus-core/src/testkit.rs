//! Test doubles of the shared contracts (feature `testkit`, never in a
//! shipped build).
//!
//! [`Grants`] is an [`Authorizer`] that allows exactly the (subject,
//! capability) pairs it was given and records every decision, so a test
//! can check both the outcome and that the decision was asked for.

use crate::{Authorizer, AuthzError, Capability, Subject};
use std::sync::{Mutex, PoisonError};

/// Allows exactly the listed pairs; records each decision as
/// `"allow|deny <subject> <capability> <target>"`.
#[derive(Debug)]
pub struct Grants {
    allowed: Vec<(Subject, Capability)>,
    log: Mutex<Vec<String>>,
}

impl Grants {
    /// Grants for `allowed`; the subjects must parse (a test's typo is a
    /// bug in the test, reported at once).
    ///
    /// # Panics
    /// When a subject does not parse.
    #[allow(clippy::panic)]
    pub fn new(allowed: &[(&str, Capability)]) -> Grants {
        let allowed = allowed
            .iter()
            .map(|(s, c)| match s.parse() {
                Ok(subject) => (subject, *c),
                Err(e) => panic!("test subject {s:?}: {e}"),
            })
            .collect();
        Grants {
            allowed,
            log: Mutex::new(Vec::new()),
        }
    }

    /// Every decision so far, oldest first.
    pub fn log(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Authorizer for Grants {
    fn authorize(
        &self,
        subject: &Subject,
        cap: Capability,
        target: &str,
    ) -> Result<(), AuthzError> {
        let ok = self.allowed.iter().any(|(s, c)| s == subject && *c == cap);
        let decision = if ok { "allow" } else { "deny" };
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{decision} {subject} {cap} {target}"));
        if ok {
            Ok(())
        } else {
            Err(AuthzError::Denied {
                subject: subject.to_string(),
                capability: cap,
            })
        }
    }
}
