//! updated's logic: stage signed system updates into A/B slots, commit or
//! roll back. The daemon is a thin `main.rs` over [`build`] and
//! [`UpdateHandler`] (module `handler`: the `update.*` wire ops).
//!
//! Layout in statefs:
//! - `state:/update/slot-a/<path…>`, `state:/update/slot-b/<path…>`: the
//!   two system slots' files (paths as in the signed manifest).
//! - `state:/update/state`: which slot is active, what it runs, the
//!   pending update or the release kept behind the active one, each with
//!   its signed manifest as verified (statefs record `NXUP` v2, JSON
//!   payload; v1 is read and upgraded).
//!
//! Slot life cycle. The active slot runs the system; the other slot is
//! empty, or holds a *pending* update (staged, not committed), or the
//! *previous* release (what the active one replaced):
//! - `stage` verifies an update (scope `updates`), clears the other slot
//!   (dropping a kept previous release), writes the verified bytes there
//!   and marks it pending;
//! - `commit` verifies the pending slot again (its kept signature against
//!   the trust store as it is now, its files byte for byte) and only then
//!   makes it active; the slot it leaves becomes the previous release;
//! - `rollback` abandons a pending update and clears its slot; with
//!   `force` and nothing pending, it returns to the previous release
//!   (verified again the same way; a downgrade, so it needs
//!   `identity.artifact.force`) and clears the slot it leaves. There is
//!   one previous release at most: rolling back twice is `ENOENT`.
//!
//! Invariants:
//! - What is activated is what was verified: nothing becomes active
//!   without passing `trust::verify` at stage and `trust::verify_signed` +
//!   `trust::check_stored_files` at commit or rollback; a failure leaves
//!   the state as it was (the pending slot stays pending).
//! - Only system callers holding `identity.update.stage` may act; the
//!   library refuses non-system callers even if the authorizer allows them.
//!   `force` also needs `identity.artifact.force`.
//! - Versions only go up relative to the active system (or, before the
//!   first update, the running image's own [`Release`] baseline): equal is
//!   `EALREADY`, lower is `EPERM`, unless forced. The product name must
//!   match the active system's.
//! - The state record write is the commit point of every operation. A
//!   damaged state record or slot file fails the operations that need it
//!   (`EIO` naming it) and is reported to the damage sink.

#![forbid(unsafe_code)]

mod handler;
mod state;

pub use handler::{baseline, build, slot_name, BuildError, UpdateHandler, PRODUCT, SERVICE, SPEC};
pub use state::{Release, Slot, UpdateStatus, STATE_PATH};

use nexus_core::{
    Authorizer, AuthzError, Capability, Clock, Coded, DamageSink, DamagedRecord, ErrorCode,
    IgnoreDamage, Label, Subject,
};
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
    /// There is no pending update (and no earlier release to go back to).
    #[error("no update is pending")]
    NothingPending,
    /// Nothing is pending; the committed update can only be rolled back
    /// by force (it is a downgrade).
    #[error("no update is pending; rolling back the committed {active} to {previous} is a downgrade: give force")]
    RollbackNeedsForce {
        /// The active version.
        active: Version,
        /// The version kept behind it.
        previous: Version,
    },
    /// A release staged by an earlier version of updated keeps no signed
    /// manifest, so it cannot be verified again.
    #[error("{0} keeps no signed manifest in {STATE_PATH} (staged before they were kept): roll it back and stage it again")]
    NotKept(Version),
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
            UpdateError::NothingPending | UpdateError::RollbackNeedsForce { .. } => {
                ErrorCode::Enoent
            }
            UpdateError::NotKept(_) => ErrorCode::Eio,
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
    damage: Arc<dyn DamageSink>,
}

/// The damage scope of the state record.
const STATE_SCOPE: &str = "update-state";

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
            damage: Arc::new(IgnoreDamage),
        }
    }

    /// Report damaged records (the state record, slot files) to `sink`.
    pub fn with_damage_sink(mut self, sink: Arc<dyn DamageSink>) -> Self {
        self.damage = sink;
        self
    }

    /// The active slot, what it runs, and the pending update or the
    /// previous release.
    pub fn status(&self) -> Result<UpdateStatus, UpdateError> {
        let read = state::read(&self.state);
        let damaged: Vec<DamagedRecord> = match &read {
            Err(UpdateError::CorruptState { reason, .. }) => {
                vec![DamagedRecord::new(STATE_PATH, *reason)]
            }
            Err(UpdateError::State(e)) if e.code() == ErrorCode::Eio => {
                vec![DamagedRecord::new(STATE_PATH, e.detail())]
            }
            _ => Vec::new(),
        };
        if read.is_ok() || !damaged.is_empty() {
            self.damage.set_damaged(STATE_SCOPE, &damaged);
        }
        Ok(read?.unwrap_or_else(|| UpdateStatus {
            active_slot: Slot::A,
            active: self.baseline.clone(),
            pending: None,
            previous: None,
        }))
    }

    fn check_caller(&self, caller: &Subject, target: &str, force: bool) -> Result<(), UpdateError> {
        self.authz
            .authorize(caller, Capability::UpdateStage, target)?;
        if !caller.is_system() {
            return Err(UpdateError::SystemOnly);
        }
        if force {
            self.authz
                .authorize(caller, Capability::ArtifactForce, target)?;
        }
        Ok(())
    }

    /// Verify the release kept in `slot` again, against the trust store as
    /// it is now and byte for byte; what it finds damaged is reported.
    fn verify_slot(&self, slot: Slot, release: &Release) -> Result<(), UpdateError> {
        let signed = release
            .signed
            .as_ref()
            .ok_or_else(|| UpdateError::NotKept(release.version.clone()))?;
        let again =
            trust::verify_signed(&self.trust, signed, Scope::Updates, self.clock.now_unix())?;
        if Some(again.signer) != release.signer {
            return Err(UpdateError::CorruptState {
                path: STATE_PATH.to_owned(),
                reason: "kept manifest's signer differs from the record's",
            });
        }
        let files = trust::check_stored_files(&self.state, &slot.dir()?, &again.manifest);
        let damaged: Vec<DamagedRecord> = match &files {
            Err(e) => e.damaged_record().into_iter().collect(),
            Ok(_) => Vec::new(),
        };
        self.damage.set_damaged(slot.dir_name(), &damaged);
        files?;
        Ok(())
    }

    /// Clear `slot`'s files (and what was reported damaged in them).
    fn clear_slot(&self, slot: Slot) -> Result<(), UpdateError> {
        self.state.delete_prefix(&slot.dir()?)?;
        self.damage.set_damaged(slot.dir_name(), &[]);
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
        self.check_caller(caller, "update:stage", force)?;
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
        // The previous release, if one is kept here, goes now.
        self.clear_slot(slot)?;
        for (entry, bytes) in verified.files() {
            self.state
                .write(&trust::stored_path(&slot_dir, &entry.path)?, bytes)?;
        }
        let release = Release {
            name: manifest.name().clone(),
            version: manifest.version().clone(),
            signer: Some(verified.signer()),
            manifest_sha256: Some(*verified.manifest_sha256()),
            signed: Some(verified.signed().clone()),
        };
        state::write(
            &self.state,
            &UpdateStatus {
                pending: Some((slot, release.clone())),
                previous: None,
                ..status
            },
        )?;
        Ok(release)
    }

    /// Verify the pending update again and make it the active system; the
    /// slot it replaces is kept as the previous release.
    pub fn commit(&self, caller: &Subject) -> Result<Release, UpdateError> {
        self.check_caller(caller, "update:commit", false)?;
        let status = self.status()?;
        let (slot, release) = status.pending.ok_or(UpdateError::NothingPending)?;
        self.verify_slot(slot, &release)?;
        state::write(
            &self.state,
            &UpdateStatus {
                active_slot: slot,
                active: release.clone(),
                pending: None,
                previous: Some((status.active_slot, status.active)),
            },
        )?;
        Ok(release)
    }

    /// Abandon the pending update and clear its slot; or, with `force` and
    /// nothing pending, return to the previous release (verified again)
    /// and clear the slot left. Returns the release now active.
    pub fn rollback(&self, caller: &Subject, force: bool) -> Result<Release, UpdateError> {
        self.check_caller(caller, "update:rollback", force)?;
        let status = self.status()?;
        if let Some((slot, _)) = &status.pending {
            state::write(
                &self.state,
                &UpdateStatus {
                    pending: None,
                    previous: None,
                    ..status.clone()
                },
            )?;
            self.clear_slot(*slot)?;
            return Ok(status.active);
        }
        let (slot, previous) = status.previous.ok_or(UpdateError::NothingPending)?;
        if !force {
            return Err(UpdateError::RollbackNeedsForce {
                active: status.active.version,
                previous: previous.version,
            });
        }
        // The factory image is the image's own: nothing of it is kept in
        // the state to verify.
        if !previous.is_factory() {
            self.verify_slot(slot, &previous)?;
        }
        state::write(
            &self.state,
            &UpdateStatus {
                active_slot: slot,
                active: previous.clone(),
                pending: None,
                previous: None,
            },
        )?;
        self.clear_slot(status.active_slot)?;
        Ok(previous)
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
