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
//!   (statefs record `NXBI` v2, JSON payload, keeping the signed manifest
//!   and signature as verified; v1 is read).
//!
//! Invariants:
//! - Every install goes through `trust::verify` with scope `packages`, and
//!   the bytes written are the bytes that were verified.
//! - What is read is what was verified: a bundle's files are checked
//!   against the signed manifest its record keeps whenever they are read
//!   ([`BundleManager::open`]) or listed ([`BundleManager::list`]); a
//!   changed, missing or extra file, or a damaged record, is `EIO` for that
//!   bundle only, named, and reported to the damage sink.
//! - An upgrade (or reinstall) of an installed name must be signed by the
//!   root that signed the installed bundle: the first signer's kid is
//!   pinned in the record (`EPERM` otherwise, `force` included). Another
//!   root trusted for `packages` installs other names, never takes over
//!   this one; uninstalling releases the name.
//! - Authorization (`identity.bundle.install`, and with `force` also
//!   `identity.artifact.force`, which only system subjects hold) is asked
//!   before any work.
//! - Versions only go up: an equal version is `EALREADY`, a lower one is
//!   `EPERM` (a downgrade is a security refusal, not a conflict), unless
//!   the caller forces it. A bundle a first-format record describes may be
//!   installed again at the same version (that upgrades its record).
//! - The record write is the commit point: a crash before it leaves the
//!   previous version installed (new files are cleared on the next
//!   install); old versions are removed only after it. The exception is a
//!   forced reinstall of the installed version itself: its files are
//!   rewritten in place, so a crash during one leaves the record naming
//!   partly rewritten files (each file is still old or new, never torn),
//!   which the next listing reports as damaged until the next install.

#![forbid(unsafe_code)]

mod handler;
mod record;

pub use handler::{build, BuildError, BundleHandler, SERVICE, SPEC};
pub use record::InstalledBundle;

use nexus_core::{
    Authorizer, AuthzError, Capability, Clock, Coded, DamageSink, DamagedRecord, ErrorCode,
    IgnoreDamage, Kid, Label, Subject,
};
use statefs::{EntryKind, StateError, StateFs, StatePath};
use std::path::Path;
use std::sync::Arc;
use trust::{ArtifactPath, Scope, TrustError, TrustStore, Version};

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
    /// The bundle is signed by another root than the installed one.
    #[error("{name} is installed from root {pinned}; a bundle signed by {offered} may not replace it (uninstall it first)")]
    SignerPinned {
        /// The bundle.
        name: Label,
        /// The root that signed the installed bundle.
        pinned: Kid,
        /// The root that signed the one offered.
        offered: Kid,
    },
    /// `force` is for system callers only.
    #[error("only system callers may force an install")]
    ForceSystemOnly,
    /// The record keeps no signed manifest (first format): the files
    /// cannot be verified until the bundle is installed again.
    #[error("{path} keeps no signed manifest (installed before they were kept): install the bundle again")]
    NotKept {
        /// The record's state path.
        path: String,
    },
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
            BundleError::Downgrade { .. }
            | BundleError::SignerPinned { .. }
            | BundleError::ForceSystemOnly => ErrorCode::Eperm,
            BundleError::NotKept { .. } => ErrorCode::Eio,
            BundleError::NotInstalled(_) => ErrorCode::Enoent,
            BundleError::CorruptRecord { .. } => ErrorCode::Eio,
            BundleError::State(e) => e.code(),
        }
    }
}

impl BundleError {
    /// The damaged record (or file) this error is about, if it names one.
    pub fn damaged_record(&self) -> Option<DamagedRecord> {
        match self {
            BundleError::CorruptRecord { path, reason } => {
                Some(DamagedRecord::new(path.clone(), *reason))
            }
            BundleError::NotKept { path } => {
                Some(DamagedRecord::new(path.clone(), "keeps no signed manifest"))
            }
            BundleError::State(
                e @ (StateError::Corrupt { path, .. }
                | StateError::Io { path, .. }
                | StateError::Integrity { path, .. }
                | StateError::UnsupportedVersion { path, .. }),
            ) => Some(DamagedRecord::new(path.clone(), e.detail())),
            BundleError::Trust(e) => e.damaged_record(),
            _ => None,
        }
    }
}

impl From<statefs::PathError> for BundleError {
    fn from(e: statefs::PathError) -> Self {
        BundleError::State(StateError::Path(e))
    }
}

/// One bundle as [`BundleManager::list`] finds it: its record and files
/// verified, or why not.
#[derive(Debug)]
pub struct ListedBundle {
    /// The bundle's name (its directory's).
    pub name: Label,
    /// The record, if it could be read.
    pub record: Option<InstalledBundle>,
    /// `Ok` when the record and every file verify.
    pub check: Result<(), BundleError>,
}

/// The bundle manager.
pub struct BundleManager {
    state: StateFs,
    trust: TrustStore,
    authz: Arc<dyn Authorizer>,
    clock: Arc<dyn Clock>,
    damage: Arc<dyn DamageSink>,
}

fn apps_dir() -> Result<StatePath, BundleError> {
    Ok(StatePath::parse("state:/apps")?)
}

fn app_dir(name: &Label) -> Result<StatePath, BundleError> {
    Ok(StatePath::from_segments(["apps", name.as_str()])?)
}

/// The damage scope of one bundle.
fn scope(name: &Label) -> String {
    format!("bundle:{name}")
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
            damage: Arc::new(IgnoreDamage),
        }
    }

    /// Report damaged records and files to `sink`.
    pub fn with_damage_sink(mut self, sink: Arc<dyn DamageSink>) -> Self {
        self.damage = sink;
        self
    }

    /// The installed record of `name`, if any (the files are not read).
    pub fn installed(&self, name: &Label) -> Result<Option<InstalledBundle>, BundleError> {
        let r = record::read(&self.state, &app_dir(name)?, name);
        if let Err(e) = &r {
            self.report(name, e);
        }
        r
    }

    fn report(&self, name: &Label, e: &BundleError) {
        if let Some(d) = e.damaged_record() {
            self.damage.set_damaged(&scope(name), &[d]);
        }
    }

    /// Check `b`'s files against the signed manifest its record keeps;
    /// returns their bytes, in manifest order.
    fn verify_files(&self, b: &InstalledBundle) -> Result<Vec<Vec<u8>>, BundleError> {
        let dir = app_dir(&b.name)?;
        let signed = b.signed.as_ref().ok_or_else(|| BundleError::NotKept {
            path: dir
                .join(record::RECORD_NAME)
                .map(|p| p.to_string())
                .unwrap_or_default(),
        })?;
        let manifest = signed.manifest().map_err(|_| BundleError::CorruptRecord {
            path: dir.to_string(),
            reason: "kept manifest does not parse",
        })?;
        Ok(trust::check_stored_files(
            &self.state,
            &dir.join(b.version.as_str())?,
            &manifest,
        )?)
    }

    /// Read and verify one bundle; what is damaged is reported, what is
    /// intact clears an earlier report.
    fn check(&self, name: &Label) -> Result<(InstalledBundle, Vec<Vec<u8>>), BundleError> {
        let result = record::read(&self.state, &app_dir(name)?, name).and_then(|b| {
            let b = b.ok_or_else(|| BundleError::NotInstalled(name.clone()))?;
            let files = self.verify_files(&b)?;
            Ok((b, files))
        });
        match &result {
            Ok(_) | Err(BundleError::NotInstalled(_)) => self.damage.set_damaged(&scope(name), &[]),
            Err(e) => self.report(name, e),
        }
        result
    }

    /// Every file of an installed bundle, verified against its signed
    /// manifest now: the only way its files are read.
    pub fn open(&self, name: &Label) -> Result<Vec<(ArtifactPath, Vec<u8>)>, BundleError> {
        let (b, files) = self.check(name)?;
        Ok(b.files.into_iter().zip(files).collect())
    }

    /// Every installed bundle, by name, each verified now. One bundle's
    /// damage is reported in its entry and never hides the others.
    pub fn list(&self) -> Result<Vec<ListedBundle>, BundleError> {
        let apps = apps_dir()?;
        let Some(entries) = self.state.entries(&apps)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries {
            // Only a directory named like a bundle can hold one.
            let Ok(name) = Label::new(e.name.as_str()) else {
                continue;
            };
            if e.kind != EntryKind::Dir {
                let err = BundleError::CorruptRecord {
                    path: format!("{apps}/{name}"),
                    reason: "not a directory",
                };
                self.report(&name, &err);
                out.push(ListedBundle {
                    name,
                    record: None,
                    check: Err(err),
                });
                continue;
            }
            match self.check(&name) {
                Ok((b, _)) => out.push(ListedBundle {
                    name,
                    record: Some(b),
                    check: Ok(()),
                }),
                // Files of an install that never reached its record.
                Err(BundleError::NotInstalled(_)) => {}
                Err(err) => out.push(ListedBundle {
                    record: record::read(&self.state, &app_dir(&name)?, &name)
                        .ok()
                        .flatten(),
                    name,
                    check: Err(err),
                }),
            }
        }
        Ok(out)
    }

    fn authorize_install(&self, caller: &Subject, force: bool) -> Result<(), BundleError> {
        self.authz
            .authorize(caller, Capability::BundleInstall, "bundle:install")?;
        if force {
            self.authz
                .authorize(caller, Capability::ArtifactForce, "bundle:install")?;
            if !caller.is_system() {
                return Err(BundleError::ForceSystemOnly);
            }
        }
        Ok(())
    }

    /// Verify the bundle in `artifact_dir` and install it. `force` allows a
    /// reinstall of the same version or a downgrade; neither lifts the
    /// signer pin.
    pub fn install(
        &self,
        caller: &Subject,
        artifact_dir: &Path,
        force: bool,
    ) -> Result<InstalledBundle, BundleError> {
        self.authorize_install(caller, force)?;
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
        let current = self.installed(name)?;
        if let Some(cur) = &current {
            if verified.signer() != cur.signer {
                return Err(BundleError::SignerPinned {
                    name: name.clone(),
                    pinned: cur.signer,
                    offered: verified.signer(),
                });
            }
            // A first-format record is upgraded by installing the same
            // version again.
            let upgrade_record = cur.signed.is_none() && *offered == cur.version;
            if !force && !upgrade_record {
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
        }
        let version_dir = dir.join(offered.as_str())?;
        // Leftovers of a crashed install, or the files of a reinstall.
        self.state.delete_prefix(&version_dir)?;
        for (entry, bytes) in verified.files() {
            self.state
                .write(&trust::stored_path(&version_dir, &entry.path)?, bytes)?;
        }
        let installed = InstalledBundle {
            name: name.clone(),
            version: offered.clone(),
            signer: verified.signer(),
            manifest_sha256: *verified.manifest_sha256(),
            files: manifest.files().iter().map(|f| f.path.clone()).collect(),
            signed: Some(verified.signed().clone()),
        };
        record::write(&self.state, &dir, &installed, verified.signed())?;
        // Committed; now drop every other version's files.
        let record_path = record::record_path(&dir)?;
        for p in self.state.list(&dir)? {
            if !p.starts_with(&version_dir) && p != record_path {
                self.state.delete(&p)?;
            }
        }
        self.damage.set_damaged(&scope(name), &[]);
        Ok(installed)
    }

    /// Remove an installed bundle and its files. A damaged record is
    /// removed without being read (returns `None` then).
    pub fn uninstall(
        &self,
        caller: &Subject,
        name: &Label,
    ) -> Result<Option<InstalledBundle>, BundleError> {
        self.authz
            .authorize(caller, Capability::BundleInstall, &format!("bundle:{name}"))?;
        let dir = app_dir(name)?;
        let current = match record::read(&self.state, &dir, name) {
            Ok(Some(b)) => Some(b),
            Ok(None) => return Err(BundleError::NotInstalled(name.clone())),
            Err(e) if e.code() == ErrorCode::Eio => None,
            Err(e) => return Err(e),
        };
        // The record goes first: once it is gone the bundle is uninstalled,
        // whatever happens to the file removal.
        self.state.delete(&record::record_path(&dir)?)?;
        self.state.delete_prefix(&dir)?;
        self.damage.set_damaged(&scope(name), &[]);
        Ok(current)
    }
}
