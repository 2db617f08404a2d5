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
//! - Loading fails closed without failing wide: a missing or unreadable
//!   system directory is an error (`EIO`), never an empty store; any
//!   other entry that cannot be used (malformed, misnamed, a symlink, a
//!   special file, a file where the distrust directory should be) is kept
//!   as a [`DamagedEntry`] with what it leaves unknown (see `damage`), is
//!   reported to the damage sink, and makes `EIO` exactly the answers that
//!   depend on it. Nothing damaged is skipped, followed or read as empty.
//!   Names starting with `.` (statefs temp files left by a crash) are
//!   ignored.
//! - A system root shadows an installed root with the same kid.
//! - Writes require `identity.trust.write` from the authorizer AND a system
//!   caller; an `updates` root additionally requires a system caller.
//!   Writes are single atomic statefs writes or deletes, never through a
//!   directory that is not one.

use crate::damage::{DamagedEntry, Unknown};
use crate::error::TrustError;
use crate::load::Loaded;
use crate::root::{distrust_toml, TrustRoot};
use crate::scope::Scope;
use keymint::kid::Kid;
use nexus_core::{Authorizer, Capability, DamageSink, DamagedRecord, Subject};
use statefs::{StateFs, StatePath};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Where system roots live in the image.
pub const SYSTEM_LOCATION: &str = "pkg://trust/";
pub(crate) const SYSTEM_DISTRUST_DIR: &str = "distrusted";
pub(crate) const INSTALLED: &str = "state:/trust/installed";
pub(crate) const DISTRUSTED: &str = "state:/trust/distrusted";
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

/// A handle on the trust store. Cheap to clone.
#[derive(Clone)]
pub struct TrustStore {
    system_dir: PathBuf,
    state: StateFs,
    damage: Option<Arc<dyn DamageSink>>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore")
            .field("system_dir", &self.system_dir)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

pub(crate) fn state_path(s: &str) -> Result<StatePath, TrustError> {
    Ok(StatePath::parse(s)?)
}

fn installed_path(kid: &Kid) -> Result<StatePath, TrustError> {
    Ok(state_path(INSTALLED)?.join(&format!("{kid}.toml"))?)
}

impl TrustStore {
    /// Open the store over the system root directory (`pkg://trust/` in the
    /// image) and the state store. A missing or unreadable system directory
    /// is an error: there is no trust store without system roots. A
    /// damaged entry is not: it fails the verifications that need it.
    pub fn open(system_dir: impl Into<PathBuf>, state: StateFs) -> Result<Self, TrustError> {
        let store = TrustStore {
            system_dir: system_dir.into(),
            state,
            damage: None,
        };
        store.load()?;
        Ok(store)
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

    /// Load every root and distrust entry now. Damaged entries are kept
    /// in the snapshot with what they leave unknown (and reported to the
    /// damage sink); only an unreadable system directory is an error.
    pub fn load(&self) -> Result<TrustSnapshot, TrustError> {
        let mut l = Loaded::default();
        l.system(&self.system_dir)?;
        let mut system = std::mem::take(&mut l.roots);
        l.state_distrust(&self.state);
        let mut installed = l.state_installed(&self.state);
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
        if let Some(d) = snap.distrust_unknown(&kid).or(snap.damaged_root(&kid)) {
            return Err(d.into());
        }
        let path = installed_path(&kid)?;
        if snap.find(&kid).is_some() || self.state.read(&path)?.is_some() {
            return Err(TrustError::AlreadyPresent(kid));
        }
        self.write_root(&path, root)?;
        Ok(kid)
    }

    /// Write an installed root's file: the one place installed roots are
    /// persisted (a single atomic statefs write).
    fn write_root(&self, path: &StatePath, root: &TrustRoot) -> Result<(), TrustError> {
        self.state.write(path, root.to_toml().as_bytes())?;
        self.refresh();
        Ok(())
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
        let snap = self.load()?;
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
            self.write_root(&installed_path(kid)?, &root)?;
        }
        Ok(root)
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
        // Never through a directory that is not one (a symlink): EIO.
        self.state.entries(&state_path(INSTALLED)?)?;
        let path = installed_path(kid)?;
        if self.state.delete(&path)? {
            self.refresh();
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
        let dir = state_path(DISTRUSTED)?;
        // A list directory that is not one is damage to report, never a
        // place to write through.
        self.state.entries(&dir)?;
        let path = dir.join(&kid.to_hex())?;
        // A damaged entry for the same kid is rewritten: distrusting it
        // again is what it said.
        let location = path.to_string();
        let damaged = self
            .load()?
            .damaged()
            .iter()
            .any(|d| d.location == location);
        if !damaged && self.state.read(&path)?.is_some() {
            return Err(TrustError::AlreadyPresent(*kid));
        }
        self.state.write(&path, distrust_toml(kid).as_bytes())?;
        self.refresh();
        Ok(())
    }
}
