//! The trust store's state side: installed roots and distrust entries
//! under `state:/trust/`, and the manifest that vouches for them.
//!
//! Files (statefs records, layout 2):
//! - `state:/trust/installed/<kid>.toml`: record `NXTR` v1 whose payload
//!   is the root file (format 2, checksum line included);
//! - `state:/trust/distrusted/<kid>`: record `NXTD` v1 around a distrust
//!   entry (format 2);
//! - `state:/trust/manifest`: record `NXTM` v1, MAC'd with the trust key
//!   (keymintd's `km.trust_key`), whose payload lists every entry with the
//!   SHA-256 of its file, one per line, sorted:
//!   `installed <kid> <sha256>` / `distrusted <kid> <sha256>`.
//!
//! keystored writes all of them through its state root (so it detects a
//! rollback of any one); bundlemgrd and updated read them, and the
//! manifest is what lets them check: an entry the manifest lists must be
//! there with its digest (a removed distrust entry is `EIO`, not an empty
//! distrust list), a file it does not list has no effect (a crash between
//! an entry and the manifest leaves one; keystored removes it at start).
//! The manifest's generation (its envelope's, the writer's root
//! generation) may not fall below the highest a reader has seen.
//!
//! Order of a write: add the entry, then the manifest naming it (the
//! manifest is the commit point); remove: the manifest without it, then
//! the file.

use crate::error::TrustError;
use crate::root::{distrust_toml, parse_distrust, parse_distrust_any, TrustRoot};
use keymint::kid::Kid;
use sha2::{Digest, Sha256};
use statefs::record::{self, TagCheck};
use statefs::{StateFs, StateKey, StatePath};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const INSTALLED: &str = "state:/trust/installed";
pub(crate) const DISTRUSTED: &str = "state:/trust/distrusted";
const MANIFEST: &str = "state:/trust/manifest";
const ROOT_MAGIC: &[u8; 4] = b"NXTR";
const DISTRUST_MAGIC: &[u8; 4] = b"NXTD";
const MANIFEST_MAGIC: &[u8; 4] = b"NXTM";
const VERSION: u16 = 1;
/// Most entries a manifest may list.
const MAX_ENTRIES: usize = 4096;

/// What the manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) installed: BTreeMap<Kid, [u8; 32]>,
    pub(crate) distrusted: BTreeMap<Kid, [u8; 32]>,
    pub(crate) generation: u64,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for (kind, map) in [
            ("distrusted", &self.distrusted),
            ("installed", &self.installed),
        ] {
            for (kid, d) in map {
                out.push_str(&format!("{kind} {kid} {}\n", hex::encode(d)));
            }
        }
        out.into_bytes()
    }

    pub(crate) fn decode(payload: &[u8]) -> Result<Manifest, &'static str> {
        let text = std::str::from_utf8(payload).map_err(|_| "not text")?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("last line without a newline");
        }
        let mut m = Manifest::default();
        let mut last: Option<(&str, Kid)> = None;
        for (n, line) in text.lines().enumerate() {
            if n >= MAX_ENTRIES {
                return Err("too many entries");
            }
            let mut parts = line.split(' ');
            let (Some(kind), Some(kid), Some(d), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err("a line is not `<kind> <kid> <sha256>`");
            };
            let kid = Kid::from_hex(kid).map_err(|_| "bad kid")?;
            let mut digest = [0u8; 32];
            if d.len() != 64 || d.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err("bad digest");
            }
            hex::decode_to_slice(d, &mut digest).map_err(|_| "bad digest")?;
            if last.is_some_and(|l| l >= (kind, kid)) {
                return Err("lines not sorted or repeated");
            }
            last = Some((kind, kid));
            match kind {
                "distrusted" => m.distrusted.insert(kid, digest),
                "installed" => m.installed.insert(kid, digest),
                _ => return Err("unknown entry kind"),
            };
        }
        Ok(m)
    }
}

fn p(s: &str) -> Result<StatePath, TrustError> {
    Ok(StatePath::parse(s)?)
}

pub(crate) fn installed_path(kid: &Kid) -> Result<StatePath, TrustError> {
    Ok(p(INSTALLED)?.join(&format!("{kid}.toml"))?)
}

pub(crate) fn distrusted_path(kid: &Kid) -> Result<StatePath, TrustError> {
    Ok(p(DISTRUSTED)?.join(&kid.to_hex())?)
}

fn integrity(location: String, reason: &'static str) -> TrustError {
    TrustError::StoreIntegrity { location, reason }
}

/// The state side of one store: its statefs and, in durable mode, the
/// trust key.
pub(crate) struct StateSide<'a> {
    pub(crate) state: &'a StateFs,
    pub(crate) key: Option<&'a StateKey>,
}

/// Files directly under `dir`; anything deeper is an unexpected entry. A
/// `dir` that is not a directory is `EIO` (statefs).
fn entries(state: &StateFs, dir: &str) -> Result<Vec<StatePath>, TrustError> {
    let d = p(dir)?;
    let files = state.list(&d)?;
    for f in &files {
        if f.segments().len() != d.segments().len() + 1 {
            return Err(TrustError::UnexpectedEntry(f.to_string()));
        }
    }
    Ok(files)
}

impl StateSide<'_> {
    /// The manifest, if there is one.
    pub(crate) fn manifest(&self) -> Result<Option<Manifest>, TrustError> {
        let path = p(MANIFEST)?;
        let rec = match self.key {
            Some(k) => self
                .state
                .read_record_keyed(&path, MANIFEST_MAGIC, &[VERSION], k)?,
            None => self
                .state
                .read_record_full(&path, MANIFEST_MAGIC, &[VERSION])?,
        };
        let Some(rec) = rec else {
            return Ok(None);
        };
        let mut m =
            Manifest::decode(&rec.payload).map_err(|why| integrity(MANIFEST.into(), why))?;
        m.generation = rec.generation;
        Ok(Some(m))
    }

    pub(crate) fn write_manifest(&self, m: &Manifest) -> Result<(), TrustError> {
        let path = p(MANIFEST)?;
        let payload = m.encode();
        match self.key {
            Some(k) => {
                self.state
                    .write_record_keyed(&path, MANIFEST_MAGIC, VERSION, &payload, k)?
            }
            None => self
                .state
                .write_record(&path, MANIFEST_MAGIC, VERSION, &payload)?,
        }
        Ok(())
    }

    /// Whether any entry file exists (a store of the first layout, or one
    /// whose manifest was lost).
    pub(crate) fn has_entry_files(&self) -> Result<bool, TrustError> {
        Ok(!entries(self.state, INSTALLED)?.is_empty()
            || !entries(self.state, DISTRUSTED)?.is_empty())
    }

    /// The file at `path`, which the manifest says has `digest`, unframed.
    fn vouched(
        &self,
        path: &StatePath,
        digest: &[u8; 32],
        magic: &[u8; 4],
    ) -> Result<Vec<u8>, TrustError> {
        let Some(bytes) = self.state.read(path)? else {
            return Err(integrity(
                path.to_string(),
                "listed in the manifest but missing",
            ));
        };
        let got: [u8; 32] = Sha256::digest(&bytes).into();
        if &got != digest {
            return Err(integrity(path.to_string(), "does not match the manifest"));
        }
        let rec = record::decode_with(path, &bytes, magic, &[VERSION], TagCheck::Trusted)?;
        Ok(rec.payload.to_vec())
    }

    /// Every entry the manifest lists, read and checked.
    pub(crate) fn load(&self, m: &Manifest) -> Result<(Vec<TrustRoot>, BTreeSet<Kid>), TrustError> {
        // Listing checks the directories' shape (a file where a directory
        // should be, a subdirectory, a symlink named like an entry).
        entries(self.state, INSTALLED)?;
        entries(self.state, DISTRUSTED)?;
        let mut roots = Vec::new();
        for (kid, d) in &m.installed {
            let path = installed_path(kid)?;
            let body = self.vouched(&path, d, ROOT_MAGIC)?;
            let name = path.file_name().unwrap_or_default().to_owned();
            let root =
                TrustRoot::parse_file(&name, &body).map_err(|e| TrustError::CorruptStore {
                    location: path.to_string(),
                    reason: e,
                })?;
            roots.push(root);
        }
        let mut distrusted = BTreeSet::new();
        for (kid, d) in &m.distrusted {
            let path = distrusted_path(kid)?;
            let body = self.vouched(&path, d, DISTRUST_MAGIC)?;
            let got =
                parse_distrust(&kid.to_hex(), &body).map_err(|e| TrustError::CorruptStore {
                    location: path.to_string(),
                    reason: e,
                })?;
            distrusted.insert(got);
        }
        Ok((roots, distrusted))
    }

    fn digest_of(&self, path: &StatePath) -> Result<[u8; 32], TrustError> {
        let bytes = self
            .state
            .read(path)?
            .ok_or_else(|| integrity(path.to_string(), "missing right after it was written"))?;
        Ok(Sha256::digest(&bytes).into())
    }

    /// Write an installed root's file; its digest for the manifest.
    pub(crate) fn write_root(&self, root: &TrustRoot) -> Result<[u8; 32], TrustError> {
        let path = installed_path(&root.kid())?;
        self.state
            .write_record(&path, ROOT_MAGIC, VERSION, root.to_toml().as_bytes())?;
        self.digest_of(&path)
    }

    /// Write a distrust entry's file; its digest for the manifest.
    pub(crate) fn write_distrust(&self, kid: &Kid) -> Result<[u8; 32], TrustError> {
        let path = distrusted_path(kid)?;
        self.state.write_record(
            &path,
            DISTRUST_MAGIC,
            VERSION,
            distrust_toml(kid).as_bytes(),
        )?;
        self.digest_of(&path)
    }

    /// keystored at start. A store without a manifest (the first layout:
    /// plain TOML files, or records whose manifest write was interrupted)
    /// gets every entry rewritten as a record and a manifest; a store with
    /// one loses the files the manifest does not list (leftovers of an
    /// interrupted write). An entry that cannot be read as either layout
    /// stops the upgrade (nothing is dropped: the store stays `EIO`).
    pub(crate) fn upgrade_or_reconcile(&self) -> Result<usize, TrustError> {
        if let Some(m) = self.manifest()? {
            let mut removed = 0;
            for f in entries(self.state, INSTALLED)? {
                let listed = m
                    .installed
                    .keys()
                    .any(|k| installed_path(k).is_ok_and(|q| q == f));
                if !listed && self.state.delete(&f)? {
                    removed += 1;
                }
            }
            for f in entries(self.state, DISTRUSTED)? {
                let listed = m
                    .distrusted
                    .keys()
                    .any(|k| distrusted_path(k).is_ok_and(|q| q == f));
                if !listed && self.state.delete(&f)? {
                    removed += 1;
                }
            }
            return Ok(removed);
        }
        let mut m = Manifest::default();
        for f in entries(self.state, INSTALLED)? {
            let name = f.file_name().unwrap_or_default().to_owned();
            let bytes = self.state.read(&f)?.unwrap_or_default();
            let root =
                match record::decode_with(&f, &bytes, ROOT_MAGIC, &[VERSION], TagCheck::Trusted) {
                    Ok(rec) => TrustRoot::parse_file(&name, rec.payload),
                    Err(_) => TrustRoot::parse(&bytes).and_then(|r| {
                        if r.file_name() == name {
                            Ok(r)
                        } else {
                            Err(crate::root::RootError::NameMismatch)
                        }
                    }),
                }
                .map_err(|e| TrustError::CorruptStore {
                    location: f.to_string(),
                    reason: e,
                })?;
            let d = self.write_root(&root)?;
            m.installed.insert(root.kid(), d);
        }
        for f in entries(self.state, DISTRUSTED)? {
            let name = f.file_name().unwrap_or_default().to_owned();
            let bytes = self.state.read(&f)?.unwrap_or_default();
            let kid = match record::decode_with(
                &f,
                &bytes,
                DISTRUST_MAGIC,
                &[VERSION],
                TagCheck::Trusted,
            ) {
                Ok(rec) => parse_distrust(&name, rec.payload),
                Err(_) => parse_distrust_any(&name, &bytes),
            }
            .map_err(|e| TrustError::CorruptStore {
                location: f.to_string(),
                reason: e,
            })?;
            let d = self.write_distrust(&kid)?;
            m.distrusted.insert(kid, d);
        }
        let n = m.installed.len() + m.distrusted.len();
        self.write_manifest(&m)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(b: u8) -> Kid {
        Kid::from_hex(&format!("{b:02x}").repeat(32)).unwrap()
    }

    #[test]
    fn manifests_round_trip() {
        let mut m = Manifest::default();
        m.installed.insert(kid(1), [1; 32]);
        m.installed.insert(kid(2), [2; 32]);
        m.distrusted.insert(kid(3), [3; 32]);
        assert_eq!(Manifest::decode(&m.encode()), Ok(m));
        assert_eq!(Manifest::decode(b""), Ok(Manifest::default()));
    }

    #[test]
    fn test_reject_malformed_manifests() {
        let line = |k: &str, id: u8, d: &str| format!("{k} {} {d}\n", kid(id));
        let d = "ab".repeat(32);
        for bad in [
            line("installed", 1, &d).trim_end().to_owned(),
            line("installed", 1, &d[..62]),
            line("installed", 1, &d.to_uppercase()),
            line("installed", 1, &format!("{d} x")),
            line("trusted", 1, &d),
            format!("{}{}", line("installed", 2, &d), line("installed", 1, &d)),
            format!("{}{}", line("installed", 1, &d), line("installed", 1, &d)),
            format!("{}{}", line("installed", 1, &d), line("distrusted", 1, &d)),
            format!("installed xyz {d}\n"),
            "\n".to_owned(),
            "installed  x\n".to_owned(),
        ] {
            assert!(Manifest::decode(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(Manifest::decode(&[0xff, b'\n']).is_err());
        let many: String = (0..=MAX_ENTRIES)
            .map(|i| {
                format!(
                    "installed {} {d}\n",
                    Kid::from_hex(&format!("{i:064x}")).unwrap()
                )
            })
            .collect();
        assert_eq!(Manifest::decode(many.as_bytes()), Err("too many entries"));
    }
}
