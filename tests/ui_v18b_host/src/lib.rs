//! Test rig for the users/sessions/vault host tests and benchmarks: the
//! real statefs, keymint, identity and vault opened over one state
//! directory, a [`ManualClock`] and a small authorizer of the tests' own.
//!
//! Invariant: [`Stack::open`] on the same directory is a restart: nothing
//! is carried over in memory.

#![forbid(unsafe_code)]

use identity::{DecisionLog, Identity, IdentityConfig, IdentityError, IdentityParts, KdfParams};
use keymint::{Entropy, KeyMint, KeyMintError};
use nexus_core::{Authorizer, AuthzError, Capability, InstanceId, ManualClock, Subject, UserId};
use statefs::{StateError, StateFs};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vault::{Vault, VaultLimits};

/// The subject the tests log in as, unless a test says another: the
/// test's own uid (any subject will do; sessions belong to it).
pub fn caller() -> Subject {
    Subject::Uid(1000)
}

/// The subject the tests administer users as (the rig's authorizer lets
/// system subjects hold `identity.user.admin`).
pub fn admin() -> Subject {
    // A valid subject text: the fallback is never taken.
    "system:identityd".parse().unwrap_or(Subject::Uid(0))
}

/// The audit log of the tests: every line kept in memory; it can be made
/// to fail, as a full audit disk does.
#[derive(Default)]
pub struct TestAudit {
    lines: Mutex<Vec<String>>,
    failing: AtomicBool,
}

impl TestAudit {
    /// Every record so far, as `subject op target allow|deny reason`.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Make every later record fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl DecisionLog for TestAudit {
    fn record(
        &self,
        caller: &Subject,
        op: &str,
        target: &str,
        allowed: bool,
        reason: &str,
    ) -> Result<(), IdentityError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(IdentityError::Audit);
        }
        let decision = if allowed { "allow" } else { "deny" };
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{caller} {op} {target} {decision} {reason}"));
        Ok(())
    }
}

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
    /// identity failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// Rig settings.
#[derive(Debug, Clone, Copy)]
pub struct RigConfig {
    /// Argon2id parameters for new users.
    pub kdf: KdfParams,
    /// Vault quotas.
    pub limits: VaultLimits,
    /// Everything else of identity's (throttling, budgets, queues).
    pub identity: IdentityConfig,
}

impl Default for RigConfig {
    fn default() -> Self {
        RigConfig {
            kdf: KdfParams::INSECURE_TEST,
            limits: VaultLimits::default(),
            identity: IdentityConfig::default(),
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
    /// identity's audit log.
    pub audit: Arc<TestAudit>,
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
        let audit = Arc::new(TestAudit::default());
        let vault = Arc::new(Vault::new(
            state.clone(),
            keymint.clone(),
            authz.clone(),
            cfg.limits,
        ));
        let identity = Arc::new(Identity::new(IdentityParts {
            state: state.clone(),
            keys: keymint.clone(),
            clock: Arc::new(clock.clone()),
            authz: authz.clone(),
            audit: audit.clone(),
            vault: vault.clone(),
            config: IdentityConfig {
                kdf: cfg.kdf,
                ..cfg.identity
            },
        }));
        identity.add_observer(vault.clone());
        // As identityd does at start: keymint learns it knows no session.
        identity.sync_keymint()?;
        Ok(Stack {
            state,
            keymint,
            identity,
            vault,
            authz,
            audit,
        })
    }

    /// Where `user`'s vault file is (`state:/vault/<instance>/vault.kv`).
    pub fn vault_file(&self, user: &UserId) -> PathBuf {
        let path = self
            .identity
            .instance(&admin(), user)
            .ok()
            .and_then(|i| vault::vault_path(&i).ok());
        match path.and_then(|p| self.state.host_path(&p)) {
            Some(p) => p,
            None => PathBuf::from("/nonexistent"),
        }
    }

    /// `user`'s current instance.
    pub fn instance(&self, user: &UserId) -> Option<InstanceId> {
        self.identity.instance(&admin(), user).ok()
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
            identity: IdentityConfig::default(),
        }
    }
}

/// Copy the state directory of the first identity formats
/// (`tests/fixtures/identity-v1/state`) to `to`.
pub fn copy_first_format_fixture(to: &Path) -> std::io::Result<()> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/identity-v1/state");
    copy_dir(&from, to)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
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
