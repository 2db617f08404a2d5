//! updated's logic: stage signed system updates into A/B slots, commit or
//! roll back. The daemon is a thin `main.rs` over [`build`] and
//! [`UpdateHandler`] (module `handler`: the `update.*` wire ops).
//!
//! Layout in statefs:
//! - `state:/update/slot-a/<path…>`, `state:/update/slot-b/<path…>`: the
//!   two system slots' files (paths as in the signed manifest).
//! - `state:/update/state`: which slot is active, what it runs, and the
//!   pending update if any (statefs record `NXUP` v1, JSON payload).
//!
//! Life cycle: `stage` verifies an update (scope `updates`), writes it into
//! the inactive slot and marks it pending; `commit` makes the pending slot
//! active (after the new system proved itself); `rollback` abandons the
//! pending update and clears its slot. Rolling back a committed update is
//! not offered: it would be a downgrade, which only a forced `stage` may do.
//!
//! Invariants:
//! - Every stage goes through `trust::verify` with scope `updates`; the
//!   bytes written are the bytes verified.
//! - Only system callers holding `identity.update.stage` may act; the
//!   library refuses non-system callers even if the authorizer allows them.
//! - Versions only go up relative to the active system (or, before the
//!   first update, the running image's own [`Release`] baseline): equal is
//!   `EALREADY`, lower is `EPERM`, unless forced. The product name must
//!   match the active system's.
//! - The state record write is the commit point of every operation.

#![forbid(unsafe_code)]

mod handler;
mod state;
pub mod trust_reader;

pub use handler::{baseline, build, slot_name, BuildError, UpdateHandler, PRODUCT, SERVICE, SPEC};
pub use state::{Release, Slot, UpdateStatus};

use nexus_core::{Authorizer, AuthzError, Capability, Clock, Coded, ErrorCode, Label, Subject};
use statefs::{StateError, StateFs, StatePath};
use std::path::Path;
use std::sync::Arc;
use trust::{Scope, TrustError, TrustStore, Version};

/// Why an update operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Verification failed (untrusted, tampered, malformed…).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The authorizer refused.
    #[error(transparent)]
    Authz(#[from] AuthzError),
    /// Updates are for system callers only.
    #[error("only system callers may manage updates")]
    SystemOnly,
    /// The offered version is the active one.
    #[error("{0} is already active")]
    AlreadyActive(Version),
    /// The offered version is older than the active one.
    #[error("{offered} is older than the active {active}")]
    Downgrade {
        /// The active version.
        active: Version,
        /// The version offered.
        offered: Version,
    },
    /// The update is for another product than the active system.
    #[error("update is for {offered}, the system is {active}")]
    WrongProduct {
        /// The active system's name.
        active: Label,
        /// The update's name.
        offered: Label,
    },
    /// An update is already pending: commit or roll it back first.
    #[error("an update ({0}) is already pending")]
    PendingExists(Version),
    /// There is no pending update.
    #[error("no update is pending")]
    NothingPending,
    /// The state record is unreadable.
    #[error("corrupt update state at {path}: {reason}")]
    CorruptState {
        /// The state path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// statefs failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Coded for UpdateError {
    fn code(&self) -> ErrorCode {
        match self {
            UpdateError::Trust(e) => e.code(),
            UpdateError::Authz(e) => e.code(),
            UpdateError::SystemOnly
            | UpdateError::Downgrade { .. }
            | UpdateError::WrongProduct { .. } => ErrorCode::Eperm,
            UpdateError::AlreadyActive(_) => ErrorCode::Ealready,
            UpdateError::PendingExists(_) => ErrorCode::Ebusy,
            UpdateError::NothingPending => ErrorCode::Enoent,
            UpdateError::CorruptState { .. } => ErrorCode::Eio,
            UpdateError::State(e) => e.code(),
        }
    }
}

impl From<statefs::PathError> for UpdateError {
    fn from(e: statefs::PathError) -> Self {
        UpdateError::State(StateError::Path(e))
    }
}

/// The update manager.
pub struct UpdateManager {
    state: StateFs,
    trust: TrustStore,
    authz: Arc<dyn Authorizer>,
    clock: Arc<dyn Clock>,
    baseline: Release,
}

impl UpdateManager {
    /// A manager over `state`, verifying against `trust`. `baseline` is the
    /// running image's own name and version: the anti-rollback floor until
    /// the first update is committed.
    pub fn new(
        state: StateFs,
        trust: TrustStore,
        authz: Arc<dyn Authorizer>,
        clock: Arc<dyn Clock>,
        baseline: Release,
    ) -> Self {
        UpdateManager {
            state,
            trust,
            authz,
            clock,
            baseline,
        }
    }

    /// The active slot, what it runs, and the pending update.
    pub fn status(&self) -> Result<UpdateStatus, UpdateError> {
        Ok(state::read(&self.state)?.unwrap_or_else(|| UpdateStatus {
            active_slot: Slot::A,
            active: self.baseline.clone(),
            pending: None,
        }))
    }

    fn check_caller(&self, caller: &Subject, target: &str) -> Result<(), UpdateError> {
        self.authz
            .authorize(caller, Capability::UpdateStage, target)?;
        if !caller.is_system() {
            return Err(UpdateError::SystemOnly);
        }
        Ok(())
    }

    /// Verify the update in `artifact_dir`, write it into the inactive slot
    /// and mark it pending. `force` allows an equal or lower version.
    pub fn stage(
        &self,
        caller: &Subject,
        artifact_dir: &Path,
        force: bool,
    ) -> Result<Release, UpdateError> {
        self.check_caller(caller, "update:stage")?;
        let status = self.status()?;
        if let Some((_, p)) = &status.pending {
            return Err(UpdateError::PendingExists(p.version.clone()));
        }
        let verified = trust::verify(
            &self.trust,
            artifact_dir,
            Scope::Updates,
            self.clock.now_unix(),
        )?;
        let manifest = verified.manifest();
        let active = &status.active;
        if manifest.name() != &active.name {
            return Err(UpdateError::WrongProduct {
                active: active.name.clone(),
                offered: manifest.name().clone(),
            });
        }
        if !force {
            if *manifest.version() == active.version {
                return Err(UpdateError::AlreadyActive(active.version.clone()));
            }
            if *manifest.version() < active.version {
                return Err(UpdateError::Downgrade {
                    active: active.version.clone(),
                    offered: manifest.version().clone(),
                });
            }
        }
        let slot = status.active_slot.other();
        let slot_dir = slot.dir()?;
        self.state.delete_prefix(&slot_dir)?;
        for (entry, bytes) in verified.files() {
            let path = StatePath::from_segments(
                slot_dir
                    .segments()
                    .iter()
                    .map(String::as_str)
                    .chain(entry.path.segments()),
            )?;
            self.state.write(&path, bytes)?;
        }
        let release = Release {
            name: manifest.name().clone(),
            version: manifest.version().clone(),
            signer: Some(verified.signer()),
            manifest_sha256: Some(*verified.manifest_sha256()),
        };
        state::write(
            &self.state,
            &UpdateStatus {
                pending: Some((slot, release.clone())),
                ..status
            },
        )?;
        Ok(release)
    }

    /// Make the pending update the active system.
    pub fn commit(&self, caller: &Subject) -> Result<Release, UpdateError> {
        self.check_caller(caller, "update:commit")?;
        let status = self.status()?;
        let (slot, release) = status.pending.ok_or(UpdateError::NothingPending)?;
        state::write(
            &self.state,
            &UpdateStatus {
                active_slot: slot,
                active: release.clone(),
                pending: None,
            },
        )?;
        Ok(release)
    }

    /// Abandon the pending update and clear its slot.
    pub fn rollback(&self, caller: &Subject) -> Result<Release, UpdateError> {
        self.check_caller(caller, "update:rollback")?;
        let status = self.status()?;
        let (slot, release) = status.pending.clone().ok_or(UpdateError::NothingPending)?;
        state::write(
            &self.state,
            &UpdateStatus {
                pending: None,
                ..status
            },
        )?;
        self.state.delete_prefix(&slot.dir()?)?;
        Ok(release)
    }

    /// The files of `slot` (for the boot path and for tests).
    pub fn slot_files(&self, slot: Slot) -> Result<Vec<StatePath>, UpdateError> {
        Ok(self.state.list(&slot.dir()?)?)
    }
}

impl Slot {
    fn dir(self) -> Result<StatePath, UpdateError> {
        Ok(StatePath::from_segments(["update", self.dir_name()])?)
    }
}
