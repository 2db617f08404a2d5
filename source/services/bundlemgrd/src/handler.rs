//! bundlemgrd's daemon face: the `bundle.*` ops of
//! docs/architecture/services.md over [`BundleManager`], and the
//! [`build`] step that nexus-daemon runs before saying ready.
//!
//! Invariants:
//! - The caller is the channel's subject (`ctx.subject()`); no argument
//!   names it. An argument an op does not take is `EINVAL`.
//! - The trust store is opened at start-up from `--trust-dir` (system
//!   roots, read-only) and the daemon's statefs (installed roots and the
//!   distrust list); a missing or damaged system directory stops the
//!   daemon before it says ready (fail closed, never an empty store).
//! - `path` must be absolute: the daemon's working directory is no
//!   business of its callers. Whatever it names is only ever read, and
//!   only what `trust::verify` accepted is written.

use crate::{BundleError, BundleManager, InstalledBundle};
use nexus_core::{Authorizer, Clock, Label, SystemClock};
use nexus_daemon::{Context, Service, Spec};
use std::path::Path;
use std::sync::Arc;
use wire::{ArgError, Args, CallContext, Handler, Request, Value, WireError};

/// The service name: markers, socket, audit log.
pub const SERVICE: &str = "bundlemgrd";

/// bundlemgrd's place in the process contract: a public socket, the trust
/// store, no upstream.
pub const SPEC: Spec = Spec {
    name: SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    public_socket: true,
    needs_trust_dir: true,
    // Its state key and the trust store's key come from keymintd.
    upstreams: &["keymintd"],
    owns: &["apps/**", "bundlemgr/**"],
};

/// Answers `bundle.install`, `bundle.uninstall`, `bundle.list`, `status`.
pub struct BundleHandler {
    mgr: BundleManager,
    status: Value,
}

impl std::fmt::Debug for BundleHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleHandler").finish_non_exhaustive()
    }
}

/// Why the daemon could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The command line gave no trust directory (the spec requires one,
    /// so this is a contract violation, not a user error).
    #[error("no --trust-dir")]
    NoTrustDir,
    /// The trust store could not be opened.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The trust store (or its key from keymintd) could not be had.
    #[error(transparent)]
    Trust(#[from] crate::trust_reader::OpenError),
}

impl nexus_core::Coded for BuildError {
    fn code(&self) -> nexus_core::ErrorCode {
        match self {
            BuildError::NoTrustDir => nexus_core::ErrorCode::Einval,
            BuildError::Bundle(e) => e.code(),
            BuildError::Trust(_) => nexus_core::ErrorCode::Eio,
        }
    }
}

/// Open the trust store and build the handler.
pub fn build(ctx: &Context) -> Result<Service<BundleHandler>, BuildError> {
    let trust_dir = ctx
        .config()
        .trust_dir
        .as_ref()
        .ok_or(BuildError::NoTrustDir)?;
    let store = crate::trust_reader::open(ctx, trust_dir)?;
    let authz: Arc<dyn Authorizer> = ctx.policy().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mgr = BundleManager::new(ctx.state().clone(), store, authz, clock);
    // A damaged installed-version record is found now, not by a caller.
    // A damaged record is said now, on the console; it fails the
    // operations that need it (EIO), not the daemon's start.
    match mgr.list() {
        Ok(installed) => eprintln!("{SERVICE}: {} bundle(s) installed", installed.len()),
        Err(e) => eprintln!("{SERVICE}: installed bundles unreadable: {e}"),
    }
    Ok(Service {
        handler: BundleHandler::new(mgr, ctx.status(false)),
        insecure: false,
    })
}

fn wire_err(e: &BundleError) -> WireError {
    WireError::from_coded(e)
}

/// The `path` argument: an absolute directory path.
pub(crate) fn artifact_path(args: &Args) -> Result<&Path, WireError> {
    let p = Path::new(args.text("path")?);
    if !p.is_absolute() {
        return Err(ArgError::Invalid("path".into()).into());
    }
    Ok(p)
}

fn installed_reply(b: &InstalledBundle) -> Value {
    Args::new()
        .with("name", b.name.as_str())
        .with("version", b.version.as_str())
        .with("signer_kid", b.signer.to_hex())
        .into_value()
}

impl BundleHandler {
    /// A handler over `mgr`; `status` is the reply to `status`.
    pub fn new(mgr: BundleManager, status: Value) -> Self {
        BundleHandler { mgr, status }
    }

    fn install(&self, ctx: &CallContext, args: &Args) -> Result<Value, WireError> {
        args.only(&["path", "force"])?;
        let path = artifact_path(args)?;
        let force = args.opt_bool("force")?.unwrap_or(false);
        let b = self
            .mgr
            .install(ctx.subject(), path, force)
            .map_err(|e| wire_err(&e))?;
        eprintln!(
            "{SERVICE}: {} installed {} {} (signer {})",
            ctx.subject(),
            b.name,
            b.version,
            b.signer
        );
        Ok(installed_reply(&b))
    }

    fn uninstall(&self, ctx: &CallContext, args: &Args) -> Result<Value, WireError> {
        args.only(&["name"])?;
        let name: Label = args.parse("name")?;
        let b = self
            .mgr
            .uninstall(ctx.subject(), &name)
            .map_err(|e| wire_err(&e))?;
        eprintln!(
            "{SERVICE}: {} uninstalled {} {}",
            ctx.subject(),
            b.name,
            b.version
        );
        Ok(Args::new().into_value())
    }

    fn list(&self, args: &Args) -> Result<Value, WireError> {
        args.only(&[])?;
        let bundles = self
            .mgr
            .list()
            .map_err(|e| wire_err(&e))?
            .iter()
            .map(|b| {
                Args::new()
                    .with("name", b.name.as_str())
                    .with("version", b.version.as_str())
                    .into_value()
            })
            .collect::<Vec<Value>>();
        Ok(Args::new()
            .with("bundles", Value::Array(bundles))
            .into_value())
    }
}

impl Handler for BundleHandler {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        let args = req.args();
        match req.op() {
            "bundle.install" => self.install(ctx, args),
            "bundle.uninstall" => self.uninstall(ctx, args),
            "bundle.list" => self.list(args),
            "status" => {
                args.only(&[])?;
                Ok(self.status.clone())
            }
            other => Err(WireError::unknown_op(other)),
        }
    }
}
