//! Loading the trust store: every entry of the system directory and of
//! the state side, each either parsed or kept as a [`DamagedEntry`] with
//! what it leaves unknown (see `damage`). Only a system directory that
//! cannot be read at all is an error.
//!
//! Invariants: nothing is followed (shipped files are opened with
//! `O_NOFOLLOW`, state entries are listed with statefs's `entries`, which
//! reports symlinks and special files); nothing is skipped except names
//! starting with `.` (temp files a crash left).

use crate::artifact::{open_plain, read_bounded};
use crate::damage::{distrust_damage, root_damage, DamagedEntry, Unknown};
use crate::error::{shown, TrustError};
use crate::root::{parse_distrust, TrustRoot, MAX_ROOT_FILE};
use crate::store::{state_path, DISTRUSTED, INSTALLED, SYSTEM_DISTRUST_DIR, SYSTEM_LOCATION};
use keymint::kid::Kid;
use statefs::{EntryKind, StateError, StateFs, StatePath};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// A statefs failure in words, without repeating the path.
fn state_reason(e: &StateError) -> String {
    match e {
        StateError::Corrupt { reason, .. } => (*reason).to_owned(),
        StateError::Io { source, .. } => format!("unreadable: {source}"),
        other => other.to_string(),
    }
}

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

    /// The regular files directly under the state directory `dir`; every
    /// other entry, and a `dir` that is not a directory, is damage.
    fn state_files(
        &mut self,
        state: &StateFs,
        dir: &str,
        whole: Unknown,
        entry_damage: fn(String, &str, String) -> DamagedEntry,
    ) -> Vec<(String, StatePath)> {
        let listed = state_path(dir).and_then(|d| Ok(state.entries(&d)?));
        let list = match listed {
            Ok(Some(l)) => l,
            Ok(None) => return Vec::new(),
            Err(TrustError::State(e)) => {
                let why = state_reason(&e);
                self.damaged
                    .push(DamagedEntry::new(dir.to_owned(), why, whole));
                return Vec::new();
            }
            Err(e) => {
                let why = e.to_string();
                self.damaged
                    .push(DamagedEntry::new(dir.to_owned(), why, whole));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for e in list {
            let location = format!("{dir}/{}", shown(&e.name));
            match (e.path, e.kind) {
                (Some(p), EntryKind::File) => out.push((e.name, p)),
                (None, _) => {
                    let why = "not a valid record name".to_owned();
                    self.damaged.push(entry_damage(location, &e.name, why));
                }
                (Some(_), kind) => {
                    let why = format!("{} where a record should be", kind.describe());
                    self.damaged.push(entry_damage(location, &e.name, why));
                }
            }
        }
        out
    }

    fn read_state(
        &mut self,
        state: &StateFs,
        path: &StatePath,
        damage: DamagedEntry,
    ) -> Option<Vec<u8>> {
        match state.read(path) {
            Ok(b) => b,
            Err(e) => {
                self.damaged.push(DamagedEntry {
                    reason: state_reason(&e),
                    ..damage
                });
                None
            }
        }
    }

    /// Distrust entries written at run time.
    pub(crate) fn state_distrust(&mut self, state: &StateFs) {
        let files = self.state_files(state, DISTRUSTED, Unknown::DistrustList, |l, n, w| {
            distrust_damage(l, n, w)
        });
        for (name, path) in files {
            let location = path.to_string();
            let blank = distrust_damage(location.clone(), &name, "");
            let Some(bytes) = self.read_state(state, &path, blank) else {
                continue;
            };
            match parse_distrust(&name, &bytes) {
                Ok(kid) => {
                    self.distrusted.insert(kid);
                }
                Err(e) => self.damaged.push(distrust_damage(location, &name, e)),
            }
        }
    }

    /// Roots installed at run time.
    pub(crate) fn state_installed(&mut self, state: &StateFs) -> Vec<TrustRoot> {
        let files = self.state_files(state, INSTALLED, Unknown::Root(None), |l, n, w| {
            root_damage(l, n, w)
        });
        let mut roots = Vec::new();
        for (name, path) in files {
            let location = path.to_string();
            let blank = root_damage(location.clone(), &name, "");
            let Some(bytes) = self.read_state(state, &path, blank) else {
                continue;
            };
            match TrustRoot::parse_file(&name, &bytes) {
                Ok(r) => roots.push(r),
                Err(e) => self.damaged.push(root_damage(location, &name, e)),
            }
        }
        roots
    }
}
