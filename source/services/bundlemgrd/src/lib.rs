//! bundlemgrd's logic: install, upgrade and uninstall signed application
//! bundles. The daemon is a thin `main.rs` over [`build`] and
//! [`BundleHandler`] (module `handler`: the `bundle.*` wire ops).
//!
//! Layout in statefs:
//! - `state:/apps/<name>/<version>/<path…>`: the bundle's files. `<name>`
//!   is a label (`[A-Za-z0-9._-]`, starting with a letter or digit, at most
//!   64 bytes); `<version>` is dotted decimal; `<path…>` is the manifest
//!   path, whose segments use `[A-Za-z0-9._-]`, do not start with `.` and
//!   are at most 128 bytes, at most 8 deep: exactly what statefs accepts.
//! - `state:/apps/<name>/installed`: the installed-version record
//!   (statefs record `NXBI` v1, JSON payload).
//!
//! Invariants:
//! - Every install goes through `trust::verify` with scope `packages`, and
//!   the bytes written are the bytes that were verified.
//! - Authorization (`identity.bundle.install`) is asked before any work.
//! - Versions only go up: an equal version is `EALREADY`, a lower one is
//!   `EPERM` (a downgrade is a security refusal, not a conflict), unless
//!   the caller forces it.
//! - The record write is the commit point: a crash before it leaves the
//!   previous version installed (new files are cleared on the next
//!   install); old versions are removed only after it. The exception is a
//!   forced reinstall of the installed version itself: its files are
//!   rewritten in place, so a crash during one leaves the record naming
//!   partly rewritten files (each file is still old or new, never torn)
//!   until the next install; the record's manifest hash tells them apart.

#![forbid(unsafe_code)]

mod handler;
mod record;
pub mod trust_reader;

pub use handler::{build, BuildError, BundleHandler, SERVICE, SPEC};
pub use record::InstalledBundle;

use nexus_core::{Authorizer, AuthzError, Capability, Clock, Coded, ErrorCode, Label, Subject};
use statefs::{StateError, StateFs, StatePath};
use std::path::Path;
use std::sync::Arc;
use trust::{Scope, TrustError, TrustStore, Version};

/// Why a bundle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Verification failed (untrusted, tampered, malformed…).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The caller may not install bundles.
    #[error(transparent)]
    Authz(#[from] AuthzError),
    /// This version is already installed.
    #[error("{name} {version} is already installed")]
    AlreadyInstalled {
        /// The bundle.
        name: Label,
        /// The installed version.
        version: Version,
    },
    /// The bundle is older than the installed one.
    #[error("{name} {offered} is older than the installed {installed}")]
    Downgrade {
        /// The bundle.
        name: Label,
        /// The installed version.
        installed: Version,
        /// The version offered.
        offered: Version,
    },
    /// No such bundle is installed.
    #[error("{0} is not installed")]
    NotInstalled(Label),
    /// An installed-version record is unreadable.
    #[error("corrupt bundle record at {path}: {reason}")]
    CorruptRecord {
        /// The state path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// statefs failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Coded for BundleError {
    fn code(&self) -> ErrorCode {
        match self {
            BundleError::Trust(e) => e.code(),
            BundleError::Authz(e) => e.code(),
            BundleError::AlreadyInstalled { .. } => ErrorCode::Ealready,
            BundleError::Downgrade { .. } => ErrorCode::Eperm,
            BundleError::NotInstalled(_) => ErrorCode::Enoent,
            BundleError::CorruptRecord { .. } => ErrorCode::Eio,
            BundleError::State(e) => e.code(),
        }
    }
}

impl From<statefs::PathError> for BundleError {
    fn from(e: statefs::PathError) -> Self {
        BundleError::State(StateError::Path(e))
    }
}

/// The bundle manager.
pub struct BundleManager {
    state: StateFs,
    trust: TrustStore,
    authz: Arc<dyn Authorizer>,
    clock: Arc<dyn Clock>,
}

fn app_dir(name: &Label) -> Result<StatePath, BundleError> {
    Ok(StatePath::from_segments(["apps", name.as_str()])?)
}

impl BundleManager {
    /// A manager over `state`, verifying against `trust`.
    pub fn new(
        state: StateFs,
        trust: TrustStore,
        authz: Arc<dyn Authorizer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        BundleManager {
            state,
            trust,
            authz,
            clock,
        }
    }

    /// The installed version of `name`, if any.
    pub fn installed(&self, name: &Label) -> Result<Option<InstalledBundle>, BundleError> {
        record::read(&self.state, &app_dir(name)?, name)
    }

    /// Every installed bundle, by name.
    pub fn list(&self) -> Result<Vec<InstalledBundle>, BundleError> {
        let mut out = Vec::new();
        for p in self.state.list(&StatePath::parse("state:/apps")?)? {
            let segs = p.segments();
            if segs.len() == 3 && segs[2] == record::RECORD_NAME {
                let name =
                    Label::new(segs[1].as_str()).map_err(|_| BundleError::CorruptRecord {
                        path: p.to_string(),
                        reason: "bad app directory name",
                    })?;
                if let Some(b) = self.installed(&name)? {
                    out.push(b);
                }
            }
        }
        Ok(out)
    }

    /// Verify the bundle in `artifact_dir` and install it. `force` allows a
    /// reinstall of the same version or a downgrade.
    pub fn install(
        &self,
        caller: &Subject,
        artifact_dir: &Path,
        force: bool,
    ) -> Result<InstalledBundle, BundleError> {
        self.authz
            .authorize(caller, Capability::BundleInstall, "bundle:install")?;
        let verified = trust::verify(
            &self.trust,
            artifact_dir,
            Scope::Packages,
            self.clock.now_unix(),
        )?;
        let manifest = verified.manifest();
        let name = manifest.name();
        let offered = manifest.version();
        let dir = app_dir(name)?;
        let current = record::read(&self.state, &dir, name)?;
        if let (Some(cur), false) = (&current, force) {
            if *offered == cur.version {
                return Err(BundleError::AlreadyInstalled {
                    name: name.clone(),
                    version: cur.version.clone(),
                });
            }
            if *offered < cur.version {
                return Err(BundleError::Downgrade {
                    name: name.clone(),
                    installed: cur.version.clone(),
                    offered: offered.clone(),
                });
            }
        }
        let version_dir = dir.join(offered.as_str())?;
        // Leftovers of a crashed install, or the files of a forced reinstall.
        self.state.delete_prefix(&version_dir)?;
        for (entry, bytes) in verified.files() {
            let path = StatePath::from_segments(
                version_dir
                    .segments()
                    .iter()
                    .map(String::as_str)
                    .chain(entry.path.segments()),
            )?;
            self.state.write(&path, bytes)?;
        }
        let installed = InstalledBundle {
            name: name.clone(),
            version: offered.clone(),
            signer: verified.signer(),
            manifest_sha256: *verified.manifest_sha256(),
            files: manifest.files().iter().map(|f| f.path.clone()).collect(),
        };
        record::write(&self.state, &dir, &installed)?;
        // Committed; now drop every other version's files.
        let record_path = dir.join(record::RECORD_NAME)?;
        for p in self.state.list(&dir)? {
            if !p.starts_with(&version_dir) && p != record_path {
                self.state.delete(&p)?;
            }
        }
        Ok(installed)
    }

    /// Remove an installed bundle and its files.
    pub fn uninstall(
        &self,
        caller: &Subject,
        name: &Label,
    ) -> Result<InstalledBundle, BundleError> {
        self.authz
            .authorize(caller, Capability::BundleInstall, &format!("bundle:{name}"))?;
        let dir = app_dir(name)?;
        let current = record::read(&self.state, &dir, name)?
            .ok_or_else(|| BundleError::NotInstalled(name.clone()))?;
        // The record goes first: once it is gone the bundle is uninstalled,
        // whatever happens to the file removal.
        self.state.delete(&dir.join(record::RECORD_NAME)?)?;
        self.state.delete_prefix(&dir)?;
        Ok(current)
    }
}
