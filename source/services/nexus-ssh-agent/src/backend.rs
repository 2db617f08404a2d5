//! What the agent needs from the keystore, as a trait, and its one real
//! implementation over nexus-keychain (keystored's public socket).
//!
//! The agent holds no key material: listing, signing and importing are
//! keystored's ops, run with the agent's own subject (its uid mapped by the
//! policy file), so keystored decides and audits every one of them.
//!
//! Invariants: the seed of an imported key is handed over by reference and
//! never copied here; a keystore that cannot import keys says so with
//! [`ImportError::Unavailable`], never with a silent success.

use crate::proto::add::Ed25519Seed;
use nexus_core::{ErrorCode, Label};
use nexus_keychain::{CreatedKey, KeyAlg, KeyInfo, Keychain, KeychainError, LinkConfig, Signed};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use thiserror::Error;

/// Why an import failed.
#[derive(Debug, Error)]
pub enum ImportError {
    /// This keystore does not serve `key.import` (an older keystored).
    #[error("the keystore cannot import keys (no key.import)")]
    Unavailable,
    /// keystored refused, or could not be reached.
    #[error(transparent)]
    Keychain(#[from] KeychainError),
}

/// The keystore operations the agent uses.
pub trait KeyBackend: Send + Sync {
    /// `key.list`: the caller's own keys.
    fn list(&self) -> Result<Vec<KeyInfo>, KeychainError>;
    /// `key.sign` with the primary version of `(purpose, name)`.
    fn sign(&self, purpose: &Label, name: &Label, data: &[u8]) -> Result<Signed, KeychainError>;
    /// `key.import` of an Ed25519 private key under `(purpose, name)`.
    fn import_ed25519(
        &self,
        purpose: &Label,
        name: &Label,
        seed: &Ed25519Seed,
    ) -> Result<CreatedKey, ImportError>;
}

/// Idle keychains kept for reuse; more concurrent calls open more.
const POOL_KEEP: usize = 8;

/// keystored over its public socket in a run directory. Each call borrows
/// a keychain from a small pool, so agent connections sign in parallel
/// over separate keystored connections.
pub struct KeychainBackend {
    run: PathBuf,
    pool: Mutex<Vec<Keychain>>,
}

impl KeychainBackend {
    /// A backend over `<run>/keystored.sock` (connected on first use).
    pub fn new(run: &Path) -> KeychainBackend {
        KeychainBackend {
            run: run.to_path_buf(),
            pool: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Keychain) -> T) -> T {
        let taken = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let kc = taken.unwrap_or_else(|| Keychain::connect_with(&self.run, LinkConfig::default()));
        let out = f(&kc);
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_KEEP {
            pool.push(kc);
        }
        out
    }
}

impl KeyBackend for KeychainBackend {
    fn list(&self) -> Result<Vec<KeyInfo>, KeychainError> {
        self.with(|kc| kc.list_keys(None))
    }

    fn sign(&self, purpose: &Label, name: &Label, data: &[u8]) -> Result<Signed, KeychainError> {
        self.with(|kc| kc.sign(purpose, name, data))
    }

    fn import_ed25519(
        &self,
        purpose: &Label,
        name: &Label,
        seed: &Ed25519Seed,
    ) -> Result<CreatedKey, ImportError> {
        // The one place a key import reaches the keystore: the seed is
        // copied once, into the request's zeroizing buffer.
        self.with(|kc| kc.import_key(purpose, name, KeyAlg::Ed25519, seed.expose()))
            .map_err(|e| match e.remote_code() {
                // A keystored that predates `key.import` says "unknown op".
                Some(ErrorCode::Einval) if e.to_string().contains("unknown op") => {
                    ImportError::Unavailable
                }
                _ => ImportError::Keychain(e),
            })
    }
}
