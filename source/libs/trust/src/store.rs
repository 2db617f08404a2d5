//! The trust store: system roots shipped read-only with the image, roots
//! installed at run time, and a distrust list that overrides both.
//!
//! Layout:
//! - `pkg://trust/<kid>.toml`: system roots (on the host, the directory
//!   given to [`TrustStore::open`]); `pkg://trust/distrusted/<kid>`:
//!   optional shipped distrust entries. Both in format 2 (checksum line,
//!   see `root`); made by `nx key trust root` / `nx key trust seal`.
//! - `state:/trust/installed/<kid>.toml`, `state:/trust/distrusted/<kid>`
//!   and `state:/trust/manifest`: the state side (`installed`): records
//!   written by keystored, vouched for by the MAC'd manifest.
//!
//! Invariants:
//! - Whether a root is system or installed is decided by the directory it
//!   was read from, never by its content.
//! - Loading fails closed: a missing or unreadable system directory, or any
//!   malformed, misnamed, unexpected, damaged or rolled-back entry, is an
//!   error (`EIO`), never an empty or partial store. Names starting with
//!   `.` (statefs temp files left by a crash) are ignored. Opening checks
//!   only that the system directory is there: a damaged entry makes the
//!   verifications that need the store fail, not the daemon's start.
//! - A system root shadows an installed root with the same kid.
//! - Writes require `identity.trust.write` from the authorizer AND a system
//!   caller; an `updates` root additionally requires a system caller.
//!   Each write is an entry and the manifest naming it (the commit point).

use crate::error::TrustError;
use crate::installed::{self, Manifest, StateSide};
use crate::root::{parse_distrust, RootError, TrustRoot, MAX_ROOT_FILE};
use crate::scope::Scope;
use keymint::kid::Kid;
use nexus_core::{Authorizer, Capability, Subject};
use statefs::{RollbackCounter, StateFs, StateKey};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Where system roots live in the image.
pub const SYSTEM_LOCATION: &str = "pkg://trust/";
const SYSTEM_DISTRUST_DIR: &str = "distrusted";

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

/// Whether this store writes the state side (keystored) or only reads it.
#[derive(Clone)]
enum Role {
    Writer,
    /// Keeps the highest manifest generation seen, if given a counter.
    Reader(Option<Arc<dyn RollbackCounter>>),
}

/// A handle on the trust store. Cheap to clone.
#[derive(Clone)]
pub struct TrustStore {
    system_dir: PathBuf,
    state: StateFs,
    key: Option<Arc<StateKey>>,
    role: Role,
    writes: Arc<Mutex<()>>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore")
            .field("system_dir", &self.system_dir)
            .field("state", &self.state)
            .field("keyed", &self.key.is_some())
            .field("writer", &matches!(self.role, Role::Writer))
            .finish_non_exhaustive()
    }
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

impl TrustStore {
    /// Open the store over the system root directory (`pkg://trust/` in the
    /// image) and the state store, as the writer of its state side, without
    /// a trust key (tests, tools, volatile mode). A missing or unreadable
    /// system directory is an error: there is no trust store without
    /// system roots.
    pub fn open(system_dir: impl Into<PathBuf>, state: StateFs) -> Result<Self, TrustError> {
        Self::open_writer(system_dir, state, None)
    }

    /// Open as keystored does: the writer of the state side, whose manifest
    /// is MAC'd with `key` (keymintd's `km.trust_key`; `None` in volatile
    /// mode). Upgrades a state side of the first layout (plain files, no
    /// manifest) and removes entries an interrupted write left unlisted.
    pub fn open_writer(
        system_dir: impl Into<PathBuf>,
        state: StateFs,
        key: Option<StateKey>,
    ) -> Result<Self, TrustError> {
        let store = TrustStore {
            system_dir: system_dir.into(),
            state,
            key: key.map(Arc::new),
            role: Role::Writer,
            writes: Arc::new(Mutex::new(())),
        };
        store.check_system_dir()?;
        if let Err(e) = store.side().upgrade_or_reconcile() {
            // A damaged state side fails the verifications that need it,
            // not the daemon's start.
            eprintln!("trust store: state side left as it is: {e}");
        }
        Ok(store)
    }

    /// Open as bundlemgrd and updated do: a reader of the state side that
    /// keystored writes, checking its manifest with `key` and, with a
    /// `floor`, refusing a manifest older than the newest it has seen.
    pub fn open_reader(
        system_dir: impl Into<PathBuf>,
        state: StateFs,
        key: Option<StateKey>,
        floor: Option<Arc<dyn RollbackCounter>>,
    ) -> Result<Self, TrustError> {
        let store = TrustStore {
            system_dir: system_dir.into(),
            state,
            key: key.map(Arc::new),
            role: Role::Reader(floor),
            writes: Arc::new(Mutex::new(())),
        };
        store.check_system_dir()?;
        Ok(store)
    }

    fn side(&self) -> StateSide<'_> {
        StateSide {
            state: &self.state,
            key: self.key.as_deref(),
        }
    }

    /// Whether installed roots and distrust entries survive a restart
    /// (false when statefs runs without a state directory).
    pub fn is_persistent(&self) -> bool {
        !self.state.is_volatile()
    }

    /// Whether the system directory can be read at all (a missing one is a
    /// configuration error, fatal at start; a damaged entry in it is `EIO`
    /// for whatever needs the store).
    fn check_system_dir(&self) -> Result<(), TrustError> {
        fs::read_dir(&self.system_dir)
            .map(drop)
            .map_err(|source| TrustError::SystemStoreUnavailable { source })
    }

    /// The system roots and shipped distrust entries.
    fn system_side(&self) -> Result<(Vec<TrustRoot>, BTreeSet<Kid>), TrustError> {
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
            if name == SYSTEM_DISTRUST_DIR {
                // Where the shipped distrust list should be, a file:
                // refusing it keeps the list from reading as empty.
                return Err(TrustError::UnexpectedEntry(location));
            }
            let bytes = read_plain_file(&path)
                .map_err(|source| TrustError::SystemStoreUnavailable { source })?;
            system.push(TrustRoot::parse_file(&name, &bytes).map_err(|e| corrupt(location, e))?);
        }
        Ok((system, distrusted))
    }

    /// The state side's manifest, checked against the reader's floor; an
    /// absent one is an empty store unless entry files exist (a state side
    /// keystored has not upgraded yet, or whose manifest is gone).
    fn manifest(&self) -> Result<Manifest, TrustError> {
        let side = self.side();
        let Some(m) = side.manifest()? else {
            if side.has_entry_files()? {
                return Err(TrustError::StoreIntegrity {
                    location: installed::INSTALLED.to_owned(),
                    reason: "entries without a manifest",
                });
            }
            return Ok(Manifest::default());
        };
        if let Role::Reader(Some(floor)) = &self.role {
            let seen = floor.read()?;
            if m.generation < seen {
                return Err(TrustError::StoreIntegrity {
                    location: "state:/trust/manifest".to_owned(),
                    reason: "older than one already seen (rolled back)",
                });
            }
            if m.generation > seen {
                floor.advance(m.generation)?;
            }
        }
        Ok(m)
    }

    /// Load every root and distrust entry now.
    pub fn load(&self) -> Result<TrustSnapshot, TrustError> {
        self.load_with(&self.manifest()?)
    }

    fn load_with(&self, m: &Manifest) -> Result<TrustSnapshot, TrustError> {
        let (mut system, mut distrusted) = self.system_side()?;
        let (mut installed, state_distrusted) = self.side().load(m)?;
        distrusted.extend(state_distrusted);
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

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, ()>, TrustError> {
        if !matches!(self.role, Role::Writer) {
            return Err(TrustError::ReadOnly);
        }
        Ok(self.writes.lock().unwrap_or_else(PoisonError::into_inner))
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
        let _w = self.writer()?;
        let mut m = self.manifest()?;
        let snap = self.load_with(&m)?;
        if snap.distrusted.contains(&kid) {
            return Err(TrustError::Distrusted(kid));
        }
        if snap.find(&kid).is_some() || m.installed.contains_key(&kid) {
            return Err(TrustError::AlreadyPresent(kid));
        }
        let digest = self.side().write_root(root)?;
        m.installed.insert(kid, digest);
        self.side().write_manifest(&m)?;
        Ok(kid)
    }

    /// Remove an installed root. System roots cannot be removed (distrust
    /// them instead). Works without parsing the entry, so a damaged one
    /// can be removed.
    pub fn remove_installed(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
    ) -> Result<(), TrustError> {
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), false)?;
        let _w = self.writer()?;
        let mut m = self.manifest()?;
        let path = installed::installed_path(kid)?;
        if m.installed.remove(kid).is_some() {
            self.side().write_manifest(&m)?;
            self.state.delete(&path)?;
            return Ok(());
        }
        // Not installed; a leftover file of an interrupted install goes.
        self.state.delete(&path)?;
        if self.system_dir.join(format!("{kid}.toml")).exists() {
            return Err(TrustError::SystemRoot(*kid));
        }
        Err(TrustError::NotFound(*kid))
    }

    /// Distrust a kid: no root with it verifies anything from now on,
    /// whether system or installed, present or future. Needs only the
    /// manifest, so a store with a damaged entry can still be told.
    pub fn distrust(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
    ) -> Result<(), TrustError> {
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), false)?;
        let _w = self.writer()?;
        let mut m = self.manifest()?;
        if m.distrusted.contains_key(kid) {
            return Err(TrustError::AlreadyPresent(*kid));
        }
        let digest = self.side().write_distrust(kid)?;
        m.distrusted.insert(*kid, digest);
        self.side().write_manifest(&m)?;
        Ok(())
    }
}
