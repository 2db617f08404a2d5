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
//! - Loading fails closed without failing wide: a missing or unreadable
//!   system directory is an error (`EIO`), never an empty store; any
//!   other entry that cannot be used (malformed, misnamed, a symlink, a
//!   special file, a file where the distrust directory should be, an entry
//!   that does not match the manifest, a manifest that is damaged, absent
//!   beside entries, or older than one a reader has seen) is kept as a
//!   [`DamagedEntry`] with what it leaves unknown (see `damage`), is
//!   reported to the damage sink, and makes `EIO` exactly the answers that
//!   depend on it. Nothing damaged is skipped, followed or read as empty.
//!   Names starting with `.` (statefs temp files left by a crash) are
//!   ignored.
//! - A system root shadows an installed root with the same kid.
//! - Writes require `identity.trust.write` from the authorizer AND a system
//!   caller; an `updates` root additionally requires a system caller; a
//!   store opened as a reader refuses every write. Each write is an entry
//!   and the manifest naming it (the commit point), never through a
//!   directory that is not one.

use crate::damage::{DamagedEntry, Unknown};
use crate::error::TrustError;
use crate::installed::{self, Manifest, StateSide, MANIFEST};
use crate::load::Loaded;
use crate::root::TrustRoot;
use crate::scope::Scope;
use keymint::kid::Kid;
use nexus_core::{Authorizer, Capability, DamageSink, DamagedRecord, Subject};
use statefs::{RollbackCounter, StateFs, StateKey, StatePath};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Where system roots live in the image.
pub const SYSTEM_LOCATION: &str = "pkg://trust/";
pub(crate) const SYSTEM_DISTRUST_DIR: &str = "distrusted";
/// The scope the store reports its damaged records under.
const DAMAGE_SCOPE: &str = "trust";

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
    /// Whether a damaged distrust entry (or list) leaves it unknown if it
    /// is distrusted (it then verifies nothing either).
    pub distrust_unknown: bool,
}

impl RootEntry {
    /// Whether this root may vouch for `scope` at time `now`.
    pub fn usable_for(&self, scope: Scope, now: u64) -> bool {
        !self.distrusted
            && !self.distrust_unknown
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
    damaged: Vec<DamagedEntry>,
}

impl TrustSnapshot {
    /// Every effective intact root (system first), sorted by kid within
    /// each.
    pub fn roots(&self) -> &[RootEntry] {
        &self.entries
    }

    /// Every kid an intact distrust entry names (whether or not a root has
    /// it).
    pub fn distrusted(&self) -> impl Iterator<Item = &Kid> {
        self.distrusted.iter()
    }

    /// The effective intact root with this kid.
    pub fn find(&self, kid: &Kid) -> Option<&RootEntry> {
        self.entries.iter().find(|e| e.root.kid() == *kid)
    }

    /// Every record of the store that could not be used, sorted by
    /// location.
    pub fn damaged(&self) -> &[DamagedEntry] {
        &self.damaged
    }

    /// The damaged record that leaves unknown whether `kid` is
    /// distrusted, if any.
    pub fn distrust_unknown(&self, kid: &Kid) -> Option<&DamagedEntry> {
        self.damaged.iter().find(|d| d.hides_distrust_of(kid))
    }

    /// The damaged root file whose name is `kid`'s, if any.
    pub fn damaged_root(&self, kid: &Kid) -> Option<&DamagedEntry> {
        self.damaged
            .iter()
            .find(|d| d.unknown == Unknown::Root(Some(*kid)))
    }

    /// A damaged root file, any (it might have made a signature no intact
    /// root verifies).
    pub fn any_damaged_root(&self) -> Option<&DamagedEntry> {
        self.damaged.iter().find(|d| d.may_be_a_root())
    }
}

/// What [`TrustStore::update_installed`] changes; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootUpdate {
    /// A new label.
    pub label: Option<nexus_core::Label>,
    /// The new set of scopes (replaces the old one; may add or drop).
    pub scopes: Option<Vec<Scope>>,
    /// A new start of validity.
    pub not_before: Option<u64>,
    /// A new end of validity.
    pub not_after: Option<u64>,
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
    damage: Option<Arc<dyn DamageSink>>,
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

pub(crate) fn state_path(s: &str) -> Result<StatePath, TrustError> {
    Ok(StatePath::parse(s)?)
}

/// Damage of the whole state side (its manifest cannot be used).
fn manifest_damage(reason: impl ToString) -> DamagedEntry {
    DamagedEntry::new(MANIFEST.to_owned(), reason, Unknown::StateSide)
}

impl TrustStore {
    /// Open the store over the system root directory (`pkg://trust/` in the
    /// image) and the state store, as the writer of its state side, without
    /// a trust key (tests, tools, volatile mode). A missing or unreadable
    /// system directory is an error: there is no trust store without
    /// system roots. A damaged entry is not: it fails the verifications
    /// that need it.
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
        let store = Self::new(system_dir.into(), state, key, Role::Writer);
        if let Err(e) = store.side().upgrade_or_reconcile() {
            // A damaged state side fails the verifications that need it
            // (the load below reports it), not the daemon's start.
            eprintln!("trust store: state side left as it is: {e}");
        }
        store.load()?;
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
        let store = Self::new(system_dir.into(), state, key, Role::Reader(floor));
        store.load()?;
        Ok(store)
    }

    fn new(system_dir: PathBuf, state: StateFs, key: Option<StateKey>, role: Role) -> Self {
        TrustStore {
            system_dir,
            state,
            key: key.map(Arc::new),
            role,
            writes: Arc::new(Mutex::new(())),
            damage: None,
        }
    }

    fn side(&self) -> StateSide<'_> {
        StateSide {
            state: &self.state,
            key: self.key.as_deref(),
        }
    }

    /// Report the store's damaged records to `sink` from now on (after
    /// every load), starting with a load now.
    pub fn with_damage_sink(mut self, sink: Arc<dyn DamageSink>) -> Self {
        self.damage = Some(sink);
        // Whatever this finds is reported; a failure is the caller's to
        // meet at its first verification.
        let _ = self.load();
        self
    }

    /// Whether installed roots and distrust entries survive a restart
    /// (false when statefs runs without a state directory).
    pub fn is_persistent(&self) -> bool {
        !self.state.is_volatile()
    }

    /// The state side's manifest as the store may use it, checked against
    /// a reader's floor (which it raises); `Err` is the damage that makes
    /// it unusable. An absent one is an empty store, unless entries exist
    /// (a state side keystored has not upgraded yet, or whose manifest is
    /// gone) or a reader has seen one before (it was removed).
    fn manifest(&self) -> Result<Manifest, DamagedEntry> {
        let side = self.side();
        let floor = match &self.role {
            Role::Reader(Some(floor)) => Some(floor),
            _ => None,
        };
        let seen = match floor.map(|f| f.read()).transpose() {
            Ok(seen) => seen.unwrap_or(0),
            Err(e) => return Err(manifest_damage(format!("generation floor: {e}"))),
        };
        let m = match side.manifest() {
            Ok(Some(m)) => m,
            Ok(None) if side.has_entry_files() => {
                return Err(manifest_damage("entries without a manifest"))
            }
            Ok(None) if seen > 0 => {
                return Err(manifest_damage("missing, though one was seen (removed)"))
            }
            Ok(None) => return Ok(Manifest::default()),
            Err(TrustError::State(e)) => return Err(manifest_damage(e.detail())),
            Err(TrustError::Damaged { reason, .. }) => return Err(manifest_damage(reason)),
            Err(e) => return Err(manifest_damage(e)),
        };
        if m.generation < seen {
            return Err(manifest_damage("older than one already seen (rolled back)"));
        }
        if let Some(floor) = floor.filter(|_| m.generation > seen) {
            floor
                .advance(m.generation)
                .map_err(|e| manifest_damage(format!("generation floor: {e}")))?;
        }
        Ok(m)
    }

    /// The manifest, for a write: a damaged one is `EIO` naming it.
    fn manifest_for_write(&self) -> Result<Manifest, TrustError> {
        self.manifest().map_err(|d| TrustError::from(&d))
    }

    /// Load every root and distrust entry now. Damaged entries are kept
    /// in the snapshot with what they leave unknown (and reported to the
    /// damage sink); only an unreadable system directory is an error.
    pub fn load(&self) -> Result<TrustSnapshot, TrustError> {
        self.load_with(self.manifest())
    }

    fn load_with(
        &self,
        manifest: Result<Manifest, DamagedEntry>,
    ) -> Result<TrustSnapshot, TrustError> {
        let mut l = Loaded::default();
        l.system(&self.system_dir)?;
        let mut system = std::mem::take(&mut l.roots);
        let mut installed = l.state_side(&self.side(), manifest);
        let Loaded {
            distrusted,
            mut damaged,
            ..
        } = l;
        damaged.sort_by(|a, b| a.location.cmp(&b.location));
        if let Some(sink) = &self.damage {
            let records: Vec<DamagedRecord> = damaged.iter().map(DamagedEntry::record).collect();
            sink.set_damaged(DAMAGE_SCOPE, &records);
        }
        let system_kids: BTreeSet<Kid> = system.iter().map(TrustRoot::kid).collect();
        let entry = |root: TrustRoot, origin| {
            let kid = root.kid();
            let distrusted = distrusted.contains(&kid);
            RootEntry {
                distrusted,
                distrust_unknown: !distrusted && damaged.iter().any(|d| d.hides_distrust_of(&kid)),
                root,
                origin,
            }
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
            damaged,
        })
    }

    /// The writers' lock; a reader may not write.
    fn writer(&self) -> Result<MutexGuard<'_, ()>, TrustError> {
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
        let mut m = self.manifest_for_write()?;
        let snap = self.load_with(Ok(m.clone()))?;
        if snap.distrusted.contains(&kid) {
            return Err(TrustError::Distrusted(kid));
        }
        if let Some(d) = snap.distrust_unknown(&kid).or(snap.damaged_root(&kid)) {
            return Err(d.into());
        }
        if snap.find(&kid).is_some() || m.installed.contains_key(&kid) {
            return Err(TrustError::AlreadyPresent(kid));
        }
        let digest = self.side().write_root(root)?;
        m.installed.insert(kid, digest);
        if let Err(e) = self.side().write_manifest(&m) {
            // Not committed: the entry would be a stray until keystored's
            // next start.
            let _ = self.state.delete(&installed::installed_path(&kid)?);
            return Err(e);
        }
        self.refresh();
        Ok(kid)
    }

    /// Load again after a write, so the damage sink sees what the write
    /// repaired or removed at once.
    fn refresh(&self) {
        if self.damage.is_some() {
            let _ = self.load();
        }
    }

    /// Change an installed root's label, scopes or validity (the fields
    /// `change` gives; the key, and so the kid, never change). The same
    /// rules as [`TrustStore::add_installed`]: `identity.trust.write` and a
    /// system caller; a root that gains the `updates` scope needs a system
    /// caller. A system root (its metadata comes with the image) is
    /// `EPERM`, a distrusted kid is `EPERM`, a kid with no installed root
    /// `ENOENT`, a damaged entry for it `EIO`. Returns the root as written.
    pub fn update_installed(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
        change: &RootUpdate,
    ) -> Result<TrustRoot, TrustError> {
        let wants_updates = change
            .scopes
            .as_ref()
            .is_some_and(|s| s.contains(&Scope::Updates));
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), wants_updates)?;
        let _w = self.writer()?;
        let mut m = self.manifest_for_write()?;
        let snap = self.load_with(Ok(m.clone()))?;
        if snap.distrusted.contains(kid) {
            return Err(TrustError::Distrusted(*kid));
        }
        if let Some(d) = snap.distrust_unknown(kid).or(snap.damaged_root(kid)) {
            return Err(d.into());
        }
        let entry = snap.find(kid).ok_or(TrustError::NotFound(*kid))?;
        if entry.origin == Origin::System {
            return Err(TrustError::SystemRoot(*kid));
        }
        let old = &entry.root;
        let scopes: Vec<Scope> = match &change.scopes {
            Some(s) => s.clone(),
            None => old.scopes().collect(),
        };
        let root = TrustRoot::new(
            old.key().as_bytes(),
            old.minisign_key_id(),
            change.label.clone().unwrap_or_else(|| old.label().clone()),
            &scopes,
            change.not_before.unwrap_or(old.not_before()),
            change.not_after.unwrap_or(old.not_after()),
        )?;
        if root != *old {
            let before = m.installed.get(kid).copied();
            m.installed.insert(*kid, self.side().write_root(&root)?);
            if let Err(e) = self.side().write_manifest(&m) {
                // Not committed: put the entry the manifest names back.
                if before.is_some() {
                    let _ = self.side().write_root(old);
                }
                return Err(e);
            }
            self.refresh();
        }
        Ok(root)
    }

    /// Remove an installed root. System roots cannot be removed (distrust
    /// them instead). Works without parsing the entry, so a damaged one
    /// can be removed; never through a directory that is not one (`EIO`).
    pub fn remove_installed(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
    ) -> Result<(), TrustError> {
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), false)?;
        let _w = self.writer()?;
        let mut m = self.manifest_for_write()?;
        let path = installed::installed_path(kid)?;
        if m.installed.remove(kid).is_some() {
            self.side().write_manifest(&m)?;
            self.state.delete(&path)?;
            self.refresh();
            return Ok(());
        }
        // Not installed; a leftover file of an interrupted install goes.
        if self.state.delete(&path)? {
            self.refresh();
        }
        if self.system_dir.join(format!("{kid}.toml")).exists() {
            return Err(TrustError::SystemRoot(*kid));
        }
        Err(TrustError::NotFound(*kid))
    }

    /// Distrust a kid: no root with it verifies anything from now on,
    /// whether system or installed, present or future. Needs only the
    /// manifest, so a store with a damaged entry can still be told; a
    /// damaged entry for the same kid is rewritten (distrusting it again
    /// is what it said).
    pub fn distrust(
        &self,
        caller: &Subject,
        authz: &dyn Authorizer,
        kid: &Kid,
    ) -> Result<(), TrustError> {
        Self::authorize_write(caller, authz, &format!("trust:{kid}"), false)?;
        let _w = self.writer()?;
        let mut m = self.manifest_for_write()?;
        if m.distrusted.contains_key(kid) {
            let location = installed::distrusted_path(kid)?.to_string();
            let damaged = self
                .load_with(Ok(m.clone()))?
                .damaged()
                .iter()
                .any(|d| d.location == location);
            if !damaged {
                return Err(TrustError::AlreadyPresent(*kid));
            }
        }
        let digest = self.side().write_distrust(kid)?;
        m.distrusted.insert(*kid, digest);
        self.side().write_manifest(&m)?;
        self.refresh();
        Ok(())
    }
}
