//! The trust store: system roots shipped read-only with the image, roots
//! installed at run time, and a distrust list that overrides both.
//!
//! Layout:
//! - `pkg://trust/<kid>.toml`: system roots (on the host, the directory
//!   given to [`TrustStore::open`]); `pkg://trust/distrusted/<kid>`:
//!   optional shipped distrust entries.
//! - `state:/trust/installed/<kid>.toml`: installed roots.
//! - `state:/trust/distrusted/<kid>`: distrust entries written at run time.
//!
//! Invariants:
//! - Whether a root is system or installed is decided by the directory it
//!   was read from, never by its content.
//! - Loading fails closed: a missing or unreadable system directory, or any
//!   malformed, misnamed or unexpected entry, is an error (`EIO`), never an
//!   empty or partial store. Names starting with `.` (statefs temp files
//!   left by a crash) are ignored.
//! - A system root shadows an installed root with the same kid.
//! - Writes require `identity.trust.write` from the authorizer AND a system
//!   caller; an `updates` root additionally requires a system caller.
//!   Writes are single atomic statefs writes or deletes.

use crate::error::TrustError;
use crate::root::{distrust_toml, parse_distrust, RootError, TrustRoot, MAX_ROOT_FILE};
use crate::scope::Scope;
use keymint::kid::Kid;
use nexus_core::{Authorizer, Capability, Subject};
use statefs::{StateFs, StatePath};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where system roots live in the image.
pub const SYSTEM_LOCATION: &str = "pkg://trust/";
const SYSTEM_DISTRUST_DIR: &str = "distrusted";
const INSTALLED: &str = "state:/trust/installed";
const DISTRUSTED: &str = "state:/trust/distrusted";

/// Where a root comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Shipped with the image.
    System,
    /// Installed at run time into `state:/trust/installed/`.
    Installed,
}

/// One root as loaded, with where it came from and whether it is
/// distrusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootEntry {
    /// The root.
    pub root: TrustRoot,
    /// System or installed.
    pub origin: Origin,
    /// Whether a distrust entry names it (it then verifies nothing).
    pub distrusted: bool,
}

impl RootEntry {
    /// Whether this root may vouch for `scope` at time `now`.
    pub fn usable_for(&self, scope: Scope, now: u64) -> bool {
        !self.distrusted
            && self.root.not_before() <= now
            && now < self.root.not_after()
            && self.root.allows(scope)
    }
}

/// The store's contents at one moment.
#[derive(Debug, Clone)]
pub struct TrustSnapshot {
    entries: Vec<RootEntry>,
    distrusted: BTreeSet<Kid>,
}

impl TrustSnapshot {
    /// Every effective root (system first), sorted by kid within each.
    pub fn roots(&self) -> &[RootEntry] {
        &self.entries
    }

    /// Every distrusted kid (whether or not a root has it).
    pub fn distrusted(&self) -> impl Iterator<Item = &Kid> {
        self.distrusted.iter()
    }

    /// The effective root with this kid.
    pub fn find(&self, kid: &Kid) -> Option<&RootEntry> {
        self.entries.iter().find(|e| e.root.kid() == *kid)
    }
}

/// A handle on the trust store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TrustStore {
    system_dir: PathBuf,
    state: StateFs,
}

fn state_path(s: &str) -> Result<StatePath, TrustError> {
    Ok(StatePath::parse(s)?)
}

fn corrupt(location: String, reason: RootError) -> TrustError {
    TrustError::CorruptStore { location, reason }
}

/// Read a file that [`shipped_entries`] found to be a regular file, bounded
/// so that a huge file cannot exhaust memory (the parser refuses the excess).
fn read_plain_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_ROOT_FILE as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The entries of a shipped directory: `(name, is_dir, path)`, names
/// starting with `.` skipped, anything that is not a UTF-8 name, a file or
/// a directory refused.
fn shipped_entries(dir: &Path, location: &str) -> Result<Vec<(String, bool, PathBuf)>, TrustError> {
    let unavailable = |source| TrustError::SystemStoreUnavailable { source };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(unavailable)? {
        let entry = entry.map_err(unavailable)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(TrustError::UnexpectedEntry(format!(
                "{location}<non-UTF-8 name>"
            )));
        };
        if name.starts_with('.') {
            continue;
        }
        let ft = entry.file_type().map_err(unavailable)?;
        if !(ft.is_file() || ft.is_dir()) {
            return Err(TrustError::UnexpectedEntry(format!("{location}{name}")));
        }
        out.push((name, ft.is_dir(), entry.path()));
    }
    out.sort();
    Ok(out)
}

/// A state file directly under `dir`, by name; anything deeper is an
/// unexpected entry.
fn state_entry(dir: &StatePath, p: &StatePath) -> Result<(String, String), TrustError> {
    if p.segments().len() != dir.segments().len() + 1 {
        return Err(TrustError::UnexpectedEntry(p.to_string()));
    }
    let name = p.file_name().unwrap_or_default().to_owned();
    Ok((name, p.to_string()))
}

impl TrustStore {
    /// Open the store over the system root directory (`pkg://trust/` in the
    /// image) and the state store. A missing or unreadable system directory
    /// is an error: there is no trust store without system roots.
    pub fn open(system_dir: impl Into<PathBuf>, state: StateFs) -> Result<Self, TrustError> {
        let store = TrustStore {
            system_dir: system_dir.into(),
            state,
        };
        // Fail at start-up rather than at the first verification.
        store.load()?;
        Ok(store)
    }

    /// Whether installed roots and distrust entries survive a restart
    /// (false when statefs runs without a state directory).
    pub fn is_persistent(&self) -> bool {
        !self.state.is_volatile()
    }

    /// Load every root and distrust entry now.
    pub fn load(&self) -> Result<TrustSnapshot, TrustError> {
        let mut distrusted = BTreeSet::new();
        let mut system = Vec::new();
        for (name, is_dir, path) in shipped_entries(&self.system_dir, SYSTEM_LOCATION)? {
            let location = format!("{SYSTEM_LOCATION}{name}");
            if is_dir {
                if name != SYSTEM_DISTRUST_DIR {
                    return Err(TrustError::UnexpectedEntry(location));
                }
                let sub = format!("{location}/");
                for (dname, dis_dir, dpath) in shipped_entries(&path, &sub)? {
                    let dloc = format!("{sub}{dname}");
                    if dis_dir {
                        return Err(TrustError::UnexpectedEntry(dloc));
                    }
                    let bytes = read_plain_file(&dpath)
                        .map_err(|source| TrustError::SystemStoreUnavailable { source })?;
                    distrusted
                        .insert(parse_distrust(&dname, &bytes).map_err(|e| corrupt(dloc, e))?);
                }
                continue;
            }
            let bytes = read_plain_file(&path)
                .map_err(|source| TrustError::SystemStoreUnavailable { source })?;
            system.push(TrustRoot::parse_file(&name, &bytes).map_err(|e| corrupt(location, e))?);
        }

        let distrust_dir = state_path(DISTRUSTED)?;
        for p in self.state.list(&distrust_dir)? {
            let (name, location) = state_entry(&distrust_dir, &p)?;
            let bytes = self.state.read(&p)?.unwrap_or_default();
            distrusted.insert(parse_distrust(&name, &bytes).map_err(|e| corrupt(location, e))?);
        }

        let installed_dir = state_path(INSTALLED)?;
        let mut installed = Vec::new();
        for p in self.state.list(&installed_dir)? {
            let (name, location) = state_entry(&installed_dir, &p)?;
            let bytes = self.state.read(&p)?.unwrap_or_default();
            installed.push(TrustRoot::parse_file(&name, &bytes).map_err(|e| corrupt(location, e))?);
        }

        let system_kids: BTreeSet<Kid> = system.iter().map(TrustRoot::kid).collect();
        let entry = |root: TrustRoot, origin| RootEntry {
            distrusted: distrusted.contains(&root.kid()),
            root,
            origin,
        };
        let mut entries: Vec<RootEntry> = Vec::new();
        system.sort_by_key(TrustRoot::kid);
        installed.sort_by_key(TrustRoot::kid);
        entries.extend(system.into_iter().map(|r| entry(r, Origin::System)));
        entries.extend(
            installed
                .into_iter()
                .filter(|r| !system_kids.contains(&r.kid()))
                .map(|r| entry(r, Origin::Installed)),
        );
        Ok(TrustSnapshot {
            entries,
            distrusted,
        })
    }

    /// The checks every write makes, in order: the authorizer (which
    /// audits), then this library's own system-only rule.
    fn authorize_write(
        caller: &Subject,
        authz: &dyn Authorizer,
        target: &str,
        wants_updates: bool,
    ) -> Result<(), TrustError> {
        authz.authorize(caller, Capability::TrustWrite, target)?;
        if wants_updates && !caller.is_system() {
            return Err(TrustError::UpdatesScopeRequiresSystem);
        }
        if !caller.is_system() {
            return Err(TrustError::SystemOnly);
        }
        Ok(())
    }

    /// Install a root into `state:/trust/installed/`.
    pub fn add_installed(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        root: &TrustRoot,
    ) -> Result<Kid, TrustError> {
        let kid = root.kid();
        Self::authorize_write(
            caller,
            authz,
            &format!("trust:{kid}"),
            root.allows(Scope::Updates),
        )?;
        let snap = self.load()?;
        if snap.distrusted.contains(&kid) {
            return Err(TrustError::Distrusted(kid));
        }
        let path = state_path(INSTALLED)?.join(&root.file_name())?;
        if snap.find(&kid).is_some() || self.state.read(&path)?.is_some() {
            return Err(TrustError::AlreadyPresent(kid));
        }
        self.state.write(&path, root.to_toml().as_bytes())?;
        Ok(kid)
    }

    /// Remove an installed root. System roots cannot be removed (distrust
    /// them instead). Works without parsing the file, so a damaged entry
    /// can be removed.
    pub fn remove_installed(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
    ) -> Result<(), TrustError> {
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), false)?;
        let path = state_path(INSTALLED)?.join(&format!("{kid}.toml"))?;
        if self.state.delete(&path)? {
            return Ok(());
        }
        if self.system_dir.join(format!("{kid}.toml")).exists() {
            return Err(TrustError::SystemRoot(*kid));
        }
        Err(TrustError::NotFound(*kid))
    }

    /// Distrust a kid: no root with it verifies anything from now on,
    /// whether system or installed, present or future.
    pub fn distrust(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
    ) -> Result<(), TrustError> {
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), false)?;
        let path = state_path(DISTRUSTED)?.join(&kid.to_hex())?;
        if self.state.read(&path)?.is_some() {
            return Err(TrustError::AlreadyPresent(*kid));
        }
        self.state.write(&path, distrust_toml(kid).as_bytes())?;
        Ok(())
    }
}
