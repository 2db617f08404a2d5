//! updated's daemon face: the `update.*` ops of
//! docs/architecture/services.md over [`UpdateManager`], and the [`build`]
//! step that nexus-daemon runs before saying ready.
//!
//! Invariants:
//! - The caller is the channel's subject (`ctx.subject()`); no argument
//!   names it. An argument an op does not take is `EINVAL`.
//! - The trust store is opened at start-up from `--trust-dir` and the
//!   daemon's statefs; a missing or damaged system directory, or a damaged
//!   A/B state record, stops the daemon before it says ready.
//! - The anti-rollback floor before the first committed update is this
//!   image's own release, [`PRODUCT`] at the crate's version.
//! - `path` must be absolute; it is only read, and only what
//!   `trust::verify` accepted is written.
//!
//! On the wire the slots are `"a"` and `"b"`. `update.status` answers
//! `{active: slot, pending: slot / null, versions: {slot: version}}`, with
//! one `versions` entry for the active slot and one for the pending slot if
//! there is one; `update.stage` answers `{slot, version, signer_kid}` and
//! `update.commit` `{active: slot, version}`.

use crate::{Release, Slot, UpdateError, UpdateManager};
use nexus_core::{Authorizer, Clock, Label, SystemClock};
use nexus_daemon::{Context, Service, Spec};
use std::path::Path;
use std::sync::Arc;
use trust::Version;
use wire::{ArgError, Args, CallContext, Handler, Request, Value, WireError};

/// The service name: markers, socket, audit log.
pub const SERVICE: &str = "updated";

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
    status: Value,
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
    Trust(#[from] crate::trust_reader::OpenError),
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
    let store = crate::trust_reader::open(ctx, trust_dir)?;
    let authz: Arc<dyn Authorizer> = ctx.policy().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mgr = UpdateManager::new(ctx.state().clone(), store, authz, clock, baseline()?);
    // A damaged state record is said now, on the console; it fails the
    // operations that need it (EIO), not the daemon's start.
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
    match slot {
        Slot::A => "a",
        Slot::B => "b",
    }
}

fn wire_err(e: &UpdateError) -> WireError {
    WireError::from_coded(e)
}

fn artifact_path(args: &Args) -> Result<&Path, WireError> {
    let p = Path::new(args.text("path")?);
    if !p.is_absolute() {
        return Err(ArgError::Invalid("path".into()).into());
    }
    Ok(p)
}

impl UpdateHandler {
    /// A handler over `mgr`; `status` is the reply to `status`.
    pub fn new(mgr: UpdateManager, status: Value) -> Self {
        UpdateHandler { mgr, status }
    }

    fn stage(&self, ctx: &CallContext, args: &Args) -> Result<Value, WireError> {
        args.only(&["path", "force"])?;
        let path = artifact_path(args)?;
        let force = args.opt_bool("force")?.unwrap_or(false);
        let r = self
            .mgr
            .stage(ctx.subject(), path, force)
            .map_err(|e| wire_err(&e))?;
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        let slot = st
            .pending
            .map(|(s, _)| slot_name(s))
            .ok_or_else(|| WireError::new(nexus_core::ErrorCode::Eio, "staged update vanished"))?;
        eprintln!(
            "{SERVICE}: {} staged {} {} into slot {slot}",
            ctx.subject(),
            r.name,
            r.version
        );
        let signer = r.signer.map_or(Value::Null, |k| Value::Text(k.to_hex()));
        Ok(Args::new()
            .with("slot", slot)
            .with("version", r.version.as_str())
            .with("signer_kid", signer)
            .into_value())
    }

    fn commit(&self, ctx: &CallContext, args: &Args) -> Result<Value, WireError> {
        args.only(&[])?;
        let r = self.mgr.commit(ctx.subject()).map_err(|e| wire_err(&e))?;
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        eprintln!(
            "{SERVICE}: {} committed {} {}",
            ctx.subject(),
            r.name,
            r.version
        );
        Ok(Args::new()
            .with("active", slot_name(st.active_slot))
            .with("version", r.version.as_str())
            .into_value())
    }

    fn rollback(&self, ctx: &CallContext, args: &Args) -> Result<Value, WireError> {
        args.only(&[])?;
        let r = self.mgr.rollback(ctx.subject()).map_err(|e| wire_err(&e))?;
        eprintln!(
            "{SERVICE}: {} rolled back {} {}",
            ctx.subject(),
            r.name,
            r.version
        );
        Ok(Args::new().into_value())
    }

    fn update_status(&self, args: &Args) -> Result<Value, WireError> {
        args.only(&[])?;
        let st = self.mgr.status().map_err(|e| wire_err(&e))?;
        let mut versions = vec![(
            Value::Text(slot_name(st.active_slot).into()),
            Value::Text(st.active.version.as_str().into()),
        )];
        let pending = match &st.pending {
            Some((slot, r)) => {
                versions.push((
                    Value::Text(slot_name(*slot).into()),
                    Value::Text(r.version.as_str().into()),
                ));
                Value::Text(slot_name(*slot).into())
            }
            None => Value::Null,
        };
        Ok(Args::new()
            .with("active", slot_name(st.active_slot))
            .with("pending", pending)
            .with("versions", Value::Map(versions))
            .into_value())
    }
}

impl Handler for UpdateHandler {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        let args = req.args();
        match req.op() {
            "update.stage" => self.stage(ctx, args),
            "update.commit" => self.commit(ctx, args),
            "update.rollback" => self.rollback(ctx, args),
            "update.status" => self.update_status(args),
            "status" => {
                args.only(&[])?;
                Ok(self.status.clone())
            }
            other => Err(WireError::unknown_op(other)),
        }
    }
}
