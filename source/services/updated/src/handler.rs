//! updated's daemon face: the `update.*` ops of
//! docs/architecture/services.md over [`UpdateManager`], and the [`build`]
//! step that nexus-daemon runs before saying ready.
//!
//! Invariants:
//! - The caller is the channel's subject (`ctx.subject()`); no argument
//!   names it. An argument an op does not take is `EINVAL`.
//! - The trust store is opened at start-up from `--trust-dir` and the
//!   daemon's statefs; a missing system directory stops the daemon before
//!   it says ready. A damaged A/B state record, slot file or trust store
//!   record does not: it is said on the console and in `status`
//!   (`ctx.damage()`), and fails the operations that need it with `EIO`.
//! - The anti-rollback floor before the first committed update is this
//!   image's own release, [`PRODUCT`] at the crate's version.
//! - `path` must be absolute; it is only read, and only what
//!   `trust::verify` accepted is written.
//!
//! On the wire the slots are `"a"` and `"b"`. `update.status` answers
//! `{active: slot, pending: slot / null, versions: {slot: version},
//! previous: slot / null}`, with one `versions` entry for the active slot
//! and one for the other slot if it holds the pending update or the
//! previous release; `update.stage` answers `{slot, version, signer_kid}`,
//! `update.commit` and `update.rollback` `{active: slot, version}`.

use crate::{Release, Slot, UpdateError, UpdateManager};
use nexus_core::{Authorizer, Clock, Label, SystemClock};
use nexus_daemon::{Context, Service, Spec};
use nexus_proto::{
    self as proto, ArtifactArgs, Op, RollbackArgs, SlotVersions, Status, StatusReply, UpdateCommit,
    UpdateCommitReply, UpdateRollback, UpdateStage, UpdateStageReply, UpdateStatus,
    UpdateStatusReply,
};
use std::path::Path;
use std::sync::Arc;
use trust::Version;
use wire::{ArgError, CallContext, Handler, Request, Value, WireError};

/// The service name: markers, socket, audit log.
pub const SERVICE: &str = "updated";

/// Where updated keeps the highest trust manifest generation it has seen
/// (under its own state root): a trust store put back from an older copy
/// is `EIO`.
pub const TRUST_FLOOR: &str = "state:/update/trust-floor";

/// The product name every system update must carry.
pub const PRODUCT: &str = "nexus-os";

/// updated's place in the process contract: a public socket, the trust
/// store, no upstream.
pub const SPEC: Spec = Spec {
    name: SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    public_socket: true,
    needs_trust_dir: true,
    // Its state key and the trust store's key come from keymintd.
    upstreams: &["keymintd"],
    owns: &["update/**"],
};

/// Answers `update.stage`, `update.commit`, `update.rollback`,
/// `update.status`, `status`.
pub struct UpdateHandler {
    mgr: UpdateManager,
    status: StatusReply,
}

impl std::fmt::Debug for UpdateHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateHandler").finish_non_exhaustive()
    }
}

/// Why the daemon could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The command line gave no trust directory (the spec requires one).
    #[error("no --trust-dir")]
    NoTrustDir,
    /// This image's own release does not parse (a build defect).
    #[error("bad baseline release")]
    Baseline,
    /// The trust store or the A/B state could not be opened.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// The trust store (or its key from keymintd) could not be had.
    #[error(transparent)]
    Trust(#[from] nexus_daemon::TrustReaderError),
}

impl nexus_core::Coded for BuildError {
    fn code(&self) -> nexus_core::ErrorCode {
        match self {
            BuildError::NoTrustDir | BuildError::Baseline => nexus_core::ErrorCode::Einval,
            BuildError::Update(e) => e.code(),
            BuildError::Trust(_) => nexus_core::ErrorCode::Eio,
        }
    }
}

/// This image's release: the anti-rollback floor until an update commits.
pub fn baseline() -> Result<Release, BuildError> {
    let name = Label::new(PRODUCT).map_err(|_| BuildError::Baseline)?;
    let version = Version::parse(env!("CARGO_PKG_VERSION")).map_err(|_| BuildError::Baseline)?;
    Ok(Release::factory(name, version))
}

/// Open the trust store and the A/B state and build the handler.
pub fn build(ctx: &Context) -> Result<Service<UpdateHandler>, BuildError> {
    let trust_dir = ctx
        .config()
        .trust_dir
        .as_ref()
        .ok_or(BuildError::NoTrustDir)?;
    let damage: Arc<dyn nexus_core::DamageSink> = Arc::new(ctx.damage().clone());
    let store = ctx
        .trust_reader(trust_dir, TRUST_FLOOR)?
        .with_damage_sink(Arc::clone(&damage));
    let authz: Arc<dyn Authorizer> = ctx.policy().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mgr = UpdateManager::new(ctx.state().clone(), store, authz, clock, baseline()?)
        .with_damage_sink(damage);
    // A damaged state record is said now (on the console, and in
    // `status`); it fails what needs it, not the daemon's start.
    match mgr.status() {
        Ok(st) => eprintln!(
            "{SERVICE}: slot {} active ({} {}){}",
            slot_name(st.active_slot),
            st.active.name,
            st.active.version,
            if st.pending.is_some() {
                ", an update is pending"
            } else {
                ""
            }
        ),
        Err(e) => eprintln!("{SERVICE}: the A/B state is unusable: {e}"),
    }
    Ok(Service {
        handler: UpdateHandler::new(mgr, ctx.status(false)),
        insecure: false,
    })
}

/// The slot's name on the wire.
pub fn slot_name(slot: Slot) -> &'static str {
    wire_slot(slot).as_str()
}

fn wire_slot(slot: Slot) -> proto::Slot {
    match slot {
        Slot::A => proto::Slot::A,
        Slot::B => proto::Slot::B,
    }
}

fn wire_err(e: &UpdateError) -> WireError {
    WireError::from_coded(e)
}

fn artifact_path(path: &str) -> Result<&Path, WireError> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(ArgError::Invalid("path".into()).into());
    }
    Ok(p)
}

impl UpdateHandler {
    /// A handler over `mgr`; `status` is the reply to `status`.
    pub fn new(mgr: UpdateManager, status: StatusReply) -> Self {
        UpdateHandler { mgr, status }
    }

    fn stage(&self, ctx: &CallContext, a: ArtifactArgs) -> Result<UpdateStageReply, WireError> {
        let path = artifact_path(&a.path)?;
        let force = a.force.unwrap_or(false);
        let r = self
            .mgr
            .stage(ctx.subject(), path, force)
            .map_err(|e| wire_err(&e))?;
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        let slot = st
            .pending
            .map(|(s, _)| wire_slot(s))
            .ok_or_else(|| WireError::new(nexus_core::ErrorCode::Eio, "staged update vanished"))?;
        eprintln!(
            "{SERVICE}: {} staged {} {} into slot {slot}",
            ctx.subject(),
            r.name,
            r.version
        );
        // A staged release was verified, so it has a signer; only the
        // factory image has none.
        let signer_kid = r.signer.ok_or_else(|| {
            WireError::new(nexus_core::ErrorCode::Eio, "staged update has no signer")
        })?;
        Ok(UpdateStageReply {
            slot,
            version: r.version.as_str().to_owned(),
            signer_kid,
        })
    }

    fn commit(&self, ctx: &CallContext) -> Result<UpdateCommitReply, WireError> {
        let r = self.mgr.commit(ctx.subject()).map_err(|e| wire_err(&e))?;
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        eprintln!(
            "{SERVICE}: {} committed {} {}",
            ctx.subject(),
            r.name,
            r.version
        );
        Ok(UpdateCommitReply {
            active: wire_slot(st.active_slot),
            version: r.version.as_str().to_owned(),
        })
    }

    fn rollback(&self, ctx: &CallContext, a: RollbackArgs) -> Result<UpdateCommitReply, WireError> {
        let force = a.force.unwrap_or(false);
        let r = self
            .mgr
            .rollback(ctx.subject(), force)
            .map_err(|e| wire_err(&e))?;
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        eprintln!(
            "{SERVICE}: {} rolled back; active {} {}",
            ctx.subject(),
            r.name,
            r.version
        );
        Ok(UpdateCommitReply {
            active: wire_slot(st.active_slot),
            version: r.version.as_str().to_owned(),
        })
    }

    fn update_status(&self) -> Result<UpdateStatusReply, WireError> {
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        let mut versions = vec![(
            wire_slot(st.active_slot),
            st.active.version.as_str().to_owned(),
        )];
        let mut other = |o: &Option<(Slot, Release)>| {
            o.as_ref().map(|(slot, r)| {
                versions.push((wire_slot(*slot), r.version.as_str().to_owned()));
                wire_slot(*slot)
            })
        };
        let pending = other(&st.pending);
        let previous = other(&st.previous);
        Ok(UpdateStatusReply {
            active: wire_slot(st.active_slot),
            pending,
            versions: SlotVersions(versions),
            previous,
        })
    }
}

impl Handler for UpdateHandler {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        match req.op() {
            UpdateStage::NAME => proto::serve::<UpdateStage>(req, |a| self.stage(ctx, a)),
            UpdateCommit::NAME => proto::serve::<UpdateCommit>(req, |_| self.commit(ctx)),
            UpdateRollback::NAME => proto::serve::<UpdateRollback>(req, |a| self.rollback(ctx, a)),
            UpdateStatus::NAME => proto::serve::<UpdateStatus>(req, |_| self.update_status()),
            Status::NAME => proto::serve::<Status>(req, |_| Ok(self.status.clone())),
            other => Err(WireError::unknown_op(other)),
        }
    }
}
