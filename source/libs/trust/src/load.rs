//! Loading the trust store: every entry of the system directory and every
//! entry the state side's manifest lists, each either parsed or kept as a
//! [`DamagedEntry`] with what it leaves unknown (see `damage`). Only a
//! system directory that cannot be read at all is an error.
//!
//! Invariants: nothing is followed (shipped files are opened with
//! `O_NOFOLLOW`, state entries are listed with statefs's `entries`, which
//! reports symlinks and special files, and read with `O_NOFOLLOW`);
//! nothing is skipped except names starting with `.` (temp files a crash
//! left). A state entry the manifest does not list is never read, only
//! reported (it decides nothing); one it lists and that is missing,
//! changed or unparsable is damage for its kid; a manifest that cannot be
//! used is damage for the whole state side.

use crate::artifact::{open_plain, read_bounded};
use crate::damage::{
    distrust_damage, kid_of_distrust_name, kid_of_root_name, root_damage, DamagedEntry, Unknown,
};
use crate::error::{shown, TrustError};
use crate::installed::{Manifest, StateSide, DISTRUSTED, INSTALLED};
use crate::root::{parse_distrust, TrustRoot, MAX_ROOT_FILE};
use crate::store::{state_path, SYSTEM_DISTRUST_DIR, SYSTEM_LOCATION};
use keymint::kid::Kid;
use statefs::{DirEntry, StateFs};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// What the loaded entries of one side add up to.
#[derive(Default)]
pub(crate) struct Loaded {
    pub(crate) roots: Vec<TrustRoot>,
    pub(crate) distrusted: BTreeSet<Kid>,
    pub(crate) damaged: Vec<DamagedEntry>,
}

impl Loaded {
    /// A shipped file, read without following a symlink.
    fn read_shipped(
        &mut self,
        dir: &Path,
        name: &str,
        damage: impl Fn(String) -> DamagedEntry,
    ) -> Option<Vec<u8>> {
        match open_plain(dir, name) {
            Ok(Some((f, _))) => match read_bounded(f, MAX_ROOT_FILE as u64, name) {
                Ok(b) => return Some(b),
                Err(e) => self.damaged.push(damage(e.to_string())),
            },
            Ok(None) => {}
            Err(e) => self.damaged.push(damage(e.to_string())),
        }
        None
    }

    /// The shipped distrust directory `dir`.
    fn shipped_distrust(&mut self, dir: &Path, location: &str) {
        let list = match fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) => {
                let why = format!("unreadable: {e}");
                self.damaged.push(DamagedEntry::new(
                    location.to_owned(),
                    why,
                    Unknown::DistrustList,
                ));
                return;
            }
        };
        for entry in list {
            let Ok(entry) = entry else {
                let whole = Unknown::DistrustList;
                let why = "unreadable entry";
                self.damaged
                    .push(DamagedEntry::new(location.to_owned(), why, whole));
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let loc = format!("{location}/{}", shown(&name));
            let damage = |why: String| distrust_damage(loc.clone(), &name, why);
            let Some(bytes) = self.read_shipped(dir, &name, damage) else {
                continue;
            };
            match parse_distrust(&name, &bytes) {
                Ok(kid) => {
                    self.distrusted.insert(kid);
                }
                Err(e) => self.damaged.push(distrust_damage(loc, &name, e)),
            }
        }
    }

    /// The system directory. Only a directory that cannot be read at all
    /// is an error: there is no store without it.
    pub(crate) fn system(&mut self, dir: &Path) -> Result<(), TrustError> {
        let unavailable = |source| TrustError::SystemStoreUnavailable { source };
        for entry in fs::read_dir(dir).map_err(unavailable)? {
            let entry = entry.map_err(unavailable)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let location = format!("{SYSTEM_LOCATION}{}", shown(&name));
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if name == SYSTEM_DISTRUST_DIR {
                if is_dir {
                    self.shipped_distrust(&entry.path(), &location);
                } else {
                    let why = "not a directory";
                    self.damaged
                        .push(DamagedEntry::new(location, why, Unknown::DistrustList));
                }
                continue;
            }
            if is_dir {
                let why = "a directory where a root file should be";
                self.damaged.push(root_damage(location, &name, why));
                continue;
            }
            let damage = |why: String| root_damage(location.clone(), &name, why);
            let Some(bytes) = self.read_shipped(dir, &name, damage) else {
                continue;
            };
            match TrustRoot::parse_file(&name, &bytes) {
                Ok(r) => self.roots.push(r),
                Err(e) => self.damaged.push(root_damage(location, &name, e)),
            }
        }
        Ok(())
    }

    /// The entries directly under the state directory `dir`; a `dir` that
    /// is not a directory is damage leaving `whole` unknown (`None`).
    fn state_dir(&mut self, state: &StateFs, dir: &str, whole: Unknown) -> Option<Vec<DirEntry>> {
        let listed = state_path(dir).and_then(|d| Ok(state.entries(&d)?));
        match listed {
            Ok(l) => Some(l.unwrap_or_default()),
            Err(e) => {
                let why = match e {
                    TrustError::State(e) => e.detail(),
                    e => e.to_string(),
                };
                self.damaged
                    .push(DamagedEntry::new(dir.to_owned(), why, whole));
                None
            }
        }
    }

    /// The state side: `manifest` (or the damage that makes it unusable,
    /// which leaves the whole side unknown), every entry it lists read
    /// and checked, and every entry it does not list reported as a stray.
    /// Entries under a damaged directory are not read one by one: the
    /// directory's damage covers them. Returns the installed roots;
    /// distrusted kids go into `self`.
    pub(crate) fn state_side(
        &mut self,
        side: &StateSide<'_>,
        manifest: Result<Manifest, DamagedEntry>,
    ) -> Vec<TrustRoot> {
        let installed = self.state_dir(side.state, INSTALLED, Unknown::Root(None));
        let distrusted = self.state_dir(side.state, DISTRUSTED, Unknown::DistrustList);
        let m = match manifest {
            Ok(m) => m,
            Err(d) => {
                self.damaged.push(d);
                return Vec::new();
            }
        };
        let stray = |dir: &str, e: &DirEntry| {
            DamagedEntry::new(
                format!("{dir}/{}", shown(&e.name)),
                "not listed in the manifest (left by an interrupted write, or planted)",
                Unknown::Nothing,
            )
        };
        for e in installed.iter().flatten() {
            if !kid_of_root_name(&e.name).is_some_and(|k| m.installed.contains_key(&k)) {
                self.damaged.push(stray(INSTALLED, e));
            }
        }
        for e in distrusted.iter().flatten() {
            if !kid_of_distrust_name(&e.name).is_some_and(|k| m.distrusted.contains_key(&k)) {
                self.damaged.push(stray(DISTRUSTED, e));
            }
        }
        let mut roots = Vec::new();
        let installed_listed = if installed.is_some() {
            m.installed.iter().collect()
        } else {
            Vec::new()
        };
        for (kid, digest) in installed_listed {
            match side.read_root(kid, digest) {
                Ok(r) => roots.push(r),
                Err(why) => {
                    let name = format!("{kid}.toml");
                    self.damaged
                        .push(root_damage(format!("{INSTALLED}/{name}"), &name, why));
                }
            }
        }
        let distrusted_listed = if distrusted.is_some() {
            m.distrusted.iter().collect()
        } else {
            Vec::new()
        };
        for (kid, digest) in distrusted_listed {
            match side.read_distrust(kid, digest) {
                Ok(k) => {
                    self.distrusted.insert(k);
                }
                Err(why) => {
                    let name = kid.to_hex();
                    self.damaged
                        .push(distrust_damage(format!("{DISTRUSTED}/{name}"), &name, why));
                }
            }
        }
        roots
    }
}
