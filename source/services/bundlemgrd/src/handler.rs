//! bundlemgrd's daemon face: the `bundle.*` ops of
//! docs/architecture/services.md over [`BundleManager`], and the
//! [`build`] step that nexus-daemon runs before saying ready.
//!
//! Invariants:
//! - The caller is the channel's subject (`ctx.subject()`); no argument
//!   names it. An argument an op does not take is `EINVAL`.
//! - The trust store is opened at start-up from `--trust-dir` (system
//!   roots, read-only) and the daemon's statefs (installed roots and the
//!   distrust list); a missing system directory stops the daemon before it
//!   says ready (fail closed, never an empty store). A damaged bundle
//!   record or file, or trust store record, does not: it is said on the
//!   console and in `status` (`ctx.damage()`), and fails only what needs
//!   it (`EIO`).
//! - `path` must be absolute: the daemon's working directory is no
//!   business of its callers. Whatever it names is only ever read, and
//!   only what `trust::verify` accepted is written.

use crate::{BundleError, BundleManager, InstalledBundle};
use nexus_core::{Authorizer, Clock, Label, SystemClock};
use nexus_daemon::{Context, Service, Spec};
use nexus_proto::{
    self as proto, ArtifactArgs, BundleInfo, BundleInstall, BundleInstallReply, BundleList,
    BundleListReply, BundleUninstall, Empty, Op, Status, StatusReply,
};
use std::path::Path;
use std::sync::Arc;
use wire::{ArgError, CallContext, Handler, Request, Value, WireError};

/// The service name: markers, socket, audit log.
pub const SERVICE: &str = "bundlemgrd";

/// Where bundlemgrd keeps the highest trust manifest generation it has seen
/// (under its own state root): a trust store put back from an older copy
/// is `EIO`.
pub const TRUST_FLOOR: &str = "state:/bundlemgr/trust-floor";

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
    status: StatusReply,
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
    Trust(#[from] nexus_daemon::TrustReaderError),
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
    let damage: Arc<dyn nexus_core::DamageSink> = Arc::new(ctx.damage().clone());
    let store = ctx
        .trust_reader(trust_dir, TRUST_FLOOR)?
        .with_damage_sink(Arc::clone(&damage));
    let authz: Arc<dyn Authorizer> = ctx.policy().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mgr = BundleManager::new(ctx.state().clone(), store, authz, clock).with_damage_sink(damage);
    // Every installed bundle is verified now: what is damaged is said on
    // the console (and in `status`), and fails only that bundle.
    match mgr.list() {
        Ok(listed) => {
            let bad = listed.iter().filter(|b| b.check.is_err()).count();
            eprintln!(
                "{SERVICE}: {} bundle(s) installed, {bad} damaged",
                listed.len()
            );
        }
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
pub(crate) fn artifact_path(path: &str) -> Result<&Path, WireError> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(ArgError::Invalid("path".into()).into());
    }
    Ok(p)
}

fn installed_reply(b: &InstalledBundle) -> BundleInstallReply {
    BundleInstallReply {
        name: b.name.clone(),
        version: b.version.as_str().to_owned(),
        signer_kid: b.signer,
    }
}

impl BundleHandler {
    /// A handler over `mgr`; `status` is the reply to `status`.
    pub fn new(mgr: BundleManager, status: StatusReply) -> Self {
        BundleHandler { mgr, status }
    }

    fn install(&self, ctx: &CallContext, a: ArtifactArgs) -> Result<BundleInstallReply, WireError> {
        let path = artifact_path(&a.path)?;
        let force = a.force.unwrap_or(false);
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

    fn uninstall(&self, ctx: &CallContext, name: &Label) -> Result<Empty, WireError> {
        let b = self
            .mgr
            .uninstall(ctx.subject(), name)
            .map_err(|e| wire_err(&e))?;
        let version = b.map_or_else(|| "(damaged record)".to_owned(), |b| b.version.to_string());
        eprintln!("{SERVICE}: {} uninstalled {name} {version}", ctx.subject());
        Ok(Empty {})
    }

    fn list(&self) -> Result<BundleListReply, WireError> {
        let bundles = self
            .mgr
            .list()
            .map_err(|e| wire_err(&e))?
            .iter()
            .map(|b| BundleInfo {
                name: b.name.clone(),
                version: b.record.as_ref().map(|r| r.version.as_str().to_owned()),
                error: b.check.as_ref().err().map(|e| proto::BundleError {
                    code: nexus_core::Coded::code(e).as_str().to_owned(),
                    msg: e.to_string(),
                }),
            })
            .collect();
        Ok(BundleListReply { bundles })
    }
}

impl Handler for BundleHandler {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        match req.op() {
            BundleInstall::NAME => proto::serve::<BundleInstall>(req, |a| self.install(ctx, a)),
            BundleUninstall::NAME => {
                proto::serve::<BundleUninstall>(req, |a| self.uninstall(ctx, &a.name))
            }
            BundleList::NAME => proto::serve::<BundleList>(req, |_| self.list()),
            Status::NAME => proto::serve::<Status>(req, |_| Ok(self.status.clone())),
            other => Err(WireError::unknown_op(other)),
        }
    }
}
