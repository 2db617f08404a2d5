//! Test rig for the users/sessions/vault host tests and benchmarks: the
//! real statefs, keymint, identity and vault opened over one state
//! directory, a [`ManualClock`] and a small authorizer of the tests' own.
//!
//! Invariant: [`Stack::open`] on the same directory is a restart: nothing
//! is carried over in memory.

#![forbid(unsafe_code)]

use identity::{Identity, IdentityConfig, KdfParams, ThrottlePolicy};
use keymint::{Entropy, KeyMint, KeyMintError};
use nexus_core::{Authorizer, AuthzError, Capability, ManualClock, Subject};
use statefs::{StateError, StateFs};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use vault::{Vault, VaultLimits};

/// Allows every capability except system-only ones to non-system
/// subjects, minus what a test explicitly revokes.
#[derive(Default)]
pub struct TestAuthorizer {
    revoked: Mutex<HashSet<(Subject, Capability)>>,
}

impl TestAuthorizer {
    /// Deny `cap` to `subject` from now on.
    pub fn revoke(&self, subject: &Subject, cap: Capability) {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((subject.clone(), cap));
    }
}

impl Authorizer for TestAuthorizer {
    fn authorize(
        &self,
        subject: &Subject,
        cap: Capability,
        _target: &str,
    ) -> Result<(), AuthzError> {
        let revoked = self
            .revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(subject.clone(), cap));
        if revoked || (cap.is_system_only() && !subject.is_system()) {
            Err(AuthzError::Denied {
                subject: subject.to_string(),
                capability: cap,
            })
        } else {
            Ok(())
        }
    }
}

/// Why the rig could not open.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    /// statefs failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// keymint failed.
    #[error(transparent)]
    KeyMint(#[from] KeyMintError),
}

/// Rig settings.
#[derive(Debug, Clone, Copy)]
pub struct RigConfig {
    /// Argon2id parameters for new users.
    pub kdf: KdfParams,
    /// Vault quotas.
    pub limits: VaultLimits,
}

impl Default for RigConfig {
    fn default() -> Self {
        RigConfig {
            kdf: KdfParams::INSECURE_TEST,
            limits: VaultLimits::default(),
        }
    }
}

/// One process's worth of the subsystem over a state directory.
pub struct Stack {
    /// The state store.
    pub state: StateFs,
    /// keymint (device secret under `state:/keymint/`).
    pub keymint: Arc<KeyMint>,
    /// Users and sessions.
    pub identity: Arc<Identity>,
    /// The vault, registered as a session observer of `identity`.
    pub vault: Arc<Vault>,
    /// The authorizer both use.
    pub authz: Arc<TestAuthorizer>,
}

impl Stack {
    /// Open (or reopen: a restart) everything over `dir`.
    pub fn open(dir: &Path, clock: &ManualClock, cfg: RigConfig) -> Result<Stack, RigError> {
        Stack::over(StateFs::open(dir)?, clock, cfg)
    }

    /// Everything over an opened `state` (one with a state root attached,
    /// as a daemon has).
    pub fn over(state: StateFs, clock: &ManualClock, cfg: RigConfig) -> Result<Stack, RigError> {
        let keymint = Arc::new(KeyMint::open(&state, Entropy::os())?);
        let authz = Arc::new(TestAuthorizer::default());
        let identity = Arc::new(Identity::new(
            state.clone(),
            keymint.clone(),
            Arc::new(clock.clone()),
            authz.clone(),
            IdentityConfig {
                kdf: cfg.kdf,
                throttle: ThrottlePolicy::default(),
            },
        ));
        let vault = Arc::new(Vault::new(
            state.clone(),
            keymint.clone(),
            authz.clone(),
            cfg.limits,
        ));
        identity.add_observer(vault.clone());
        Ok(Stack {
            state,
            keymint,
            identity,
            vault,
            authz,
        })
    }
}

impl RigConfig {
    /// Limits large enough for the crash test's and the benches' vaults.
    pub fn crash_test() -> Self {
        let big = nexus_core::QuotaLimits {
            soft_bytes: 1 << 30,
            hard_bytes: 1 << 30,
            soft_count: 1 << 20,
            hard_count: 1 << 20,
        };
        RigConfig {
            kdf: KdfParams::INSECURE_TEST,
            limits: VaultLimits {
                per_app: big,
                per_user: big,
            },
        }
    }
}

/// The crash test's `i`-th entry name.
pub fn entry_name(i: usize) -> String {
    format!("k{i:05}")
}

/// The crash test's `i`-th value: `value-NNNNN` padded with `.` to 2 KiB,
/// so a torn write would be visible.
pub fn entry_value(i: usize) -> Vec<u8> {
    let mut v = format!("value-{i:05}").into_bytes();
    v.resize(2048, b'.');
    v
}
