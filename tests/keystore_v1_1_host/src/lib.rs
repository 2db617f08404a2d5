//! Fixtures for the keystore v1.1 host tests: small authorizers (allow-all,
//! deny-all, recording) and a way to open statefs + keymint + keystore over
//! one directory, as keystored does.
//!
//! The tests live in `tests/`; run them with
//! `cargo test -p keystore_v1_1_host -- --nocapture`.

#![forbid(unsafe_code)]

use keymint::{Entropy, KeyMint, KeyMintError};
use keystore::{KeyStore, QuotaSource};
use nexus_core::{Authorizer, AuthzError, Capability, Clock, Subject};
use statefs::StateFs;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Allows everything.
#[derive(Debug, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &Subject, _: Capability, _: &str) -> Result<(), AuthzError> {
        Ok(())
    }
}

/// Denies everything.
#[derive(Debug, Default)]
pub struct DenyAll;

impl Authorizer for DenyAll {
    fn authorize(&self, s: &Subject, c: Capability, _: &str) -> Result<(), AuthzError> {
        Err(AuthzError::Denied {
            subject: s.to_string(),
            capability: c,
        })
    }
}

/// Allows everything and remembers each question asked.
#[derive(Debug, Default)]
pub struct Recording(Mutex<Vec<(Subject, Capability, String)>>);

impl Recording {
    /// The questions asked so far.
    pub fn asked(&self) -> Vec<(Subject, Capability, String)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Authorizer for Recording {
    fn authorize(&self, s: &Subject, c: Capability, t: &str) -> Result<(), AuthzError> {
        self.0
            .lock()
            .map_err(|_| AuthzError::Unavailable("recorder poisoned"))?
            .push((s.clone(), c, t.to_owned()));
        Ok(())
    }
}

/// One opened stack: statefs, keymint and the keystore over them.
pub struct Stack {
    /// The state store.
    pub state: StateFs,
    /// The keymint the keystore uses (also reachable directly, to show what
    /// a wrapped blob opens under).
    pub keymint: Arc<KeyMint>,
    /// The keystore.
    pub store: KeyStore,
}

impl Stack {
    /// Open the stack over `state`.
    pub fn over(
        state: StateFs,
        entropy: Entropy,
        clock: Arc<dyn Clock>,
        quota: Arc<dyn QuotaSource>,
    ) -> Result<Self, KeyMintError> {
        let keymint = Arc::new(KeyMint::open(&state, entropy)?);
        let store = KeyStore::new(state.clone(), keymint.clone(), clock, quota);
        Ok(Stack {
            state,
            keymint,
            store,
        })
    }

    /// Open the stack over the state directory `dir`.
    pub fn open(
        dir: &Path,
        entropy: Entropy,
        clock: Arc<dyn Clock>,
        quota: Arc<dyn QuotaSource>,
    ) -> Result<Self, KeyMintError> {
        Self::over(StateFs::open(dir)?, entropy, clock, quota)
    }
}
