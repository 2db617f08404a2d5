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
//! there with its digest (a removed distrust entry is damage that leaves
//! that kid's status unknown, never an empty distrust list), a file it
//! does not list has no effect (a crash between an entry and the manifest
//! leaves one; it is reported, and keystored removes it at start). The
//! manifest's generation (its envelope's, the writer's root generation)
//! may not fall below the highest a reader has seen. What cannot be used
//! is kept as damage by the loader (`load`), never dropped.
//!
//! Order of a write: add the entry, then the manifest naming it (the
//! manifest is the commit point); remove: the manifest without it, then
//! the file.

use crate::damage::{kid_of_distrust_name, kid_of_root_name};
use crate::error::TrustError;
use crate::root::{distrust_toml, parse_distrust, parse_distrust_any, RootError, TrustRoot};
use keymint::kid::Kid;
use sha2::{Digest, Sha256};
use statefs::record::{self, TagCheck};
use statefs::{DirEntry, EntryKind, StateFs, StateKey, StatePath};
use std::collections::BTreeMap;

pub(crate) const INSTALLED: &str = "state:/trust/installed";
pub(crate) const DISTRUSTED: &str = "state:/trust/distrusted";
pub(crate) const MANIFEST: &str = "state:/trust/manifest";
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

/// The state side of one store: its statefs and, in durable mode, the
/// trust key.
pub(crate) struct StateSide<'a> {
    pub(crate) state: &'a StateFs,
    pub(crate) key: Option<&'a StateKey>,
}

/// The entries directly under `dir` (`None`: no such directory).
fn listing(state: &StateFs, dir: &str) -> Result<Option<Vec<DirEntry>>, TrustError> {
    Ok(state.entries(&p(dir)?)?)
}

/// Why an upgrade of the first layout stops: a distrust entry that names
/// no kid (the manifest cannot list it, and dropping it could widen
/// trust).
fn unattributable(dir: &str, e: &DirEntry) -> TrustError {
    TrustError::Damaged {
        location: format!("{dir}/{}", crate::error::shown(&e.name)),
        reason: "names no key id: the first layout cannot be upgraded around it".to_owned(),
    }
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
        let mut m = Manifest::decode(&rec.payload).map_err(|why| TrustError::Damaged {
            location: MANIFEST.to_owned(),
            reason: why.to_owned(),
        })?;
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

    /// Whether any entry exists (a store of the first layout, or one
    /// whose manifest was lost). A directory that cannot be listed is
    /// damage the loader reports on its own; here it counts as none.
    pub(crate) fn has_entry_files(&self) -> bool {
        [INSTALLED, DISTRUSTED].iter().any(|d| {
            listing(self.state, d)
                .ok()
                .flatten()
                .is_some_and(|l| !l.is_empty())
        })
    }

    /// The file at `path`, which the manifest says has `digest`, unframed.
    /// Why not, in words (the loader names the path).
    fn vouched(
        &self,
        path: &StatePath,
        digest: &[u8; 32],
        magic: &[u8; 4],
    ) -> Result<Vec<u8>, String> {
        let bytes = match self.state.read(path) {
            Ok(Some(b)) => b,
            Ok(None) => return Err("listed in the manifest but missing".to_owned()),
            Err(e) => return Err(e.detail()),
        };
        let got: [u8; 32] = Sha256::digest(&bytes).into();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&got[..], &digest[..])) {
            return Err("does not match the manifest".to_owned());
        }
        let rec = record::decode_with(path, &bytes, magic, &[VERSION], TagCheck::Trusted)
            .map_err(|e| e.detail())?;
        Ok(rec.payload.to_vec())
    }

    /// The installed root `kid`, which the manifest lists with `digest`.
    pub(crate) fn read_root(&self, kid: &Kid, digest: &[u8; 32]) -> Result<TrustRoot, String> {
        let path = installed_path(kid).map_err(|e| e.to_string())?;
        let body = self.vouched(&path, digest, ROOT_MAGIC)?;
        TrustRoot::parse_file(&format!("{kid}.toml"), &body).map_err(|e| e.to_string())
    }

    /// The distrust entry of `kid`, which the manifest lists with
    /// `digest`.
    pub(crate) fn read_distrust(&self, kid: &Kid, digest: &[u8; 32]) -> Result<Kid, String> {
        let path = distrusted_path(kid).map_err(|e| e.to_string())?;
        let body = self.vouched(&path, digest, DISTRUST_MAGIC)?;
        parse_distrust(&kid.to_hex(), &body).map_err(|e| e.to_string())
    }

    fn digest_of(&self, path: &StatePath) -> Result<[u8; 32], TrustError> {
        let bytes = self.state.read(path)?.ok_or_else(|| TrustError::Damaged {
            location: path.to_string(),
            reason: "missing right after it was written".to_owned(),
        })?;
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

    /// The digest of the file at `path` as it is, damaged or not (zeros
    /// when it cannot be read at all: it then never matches).
    fn digest_as_found(&self, path: &StatePath) -> [u8; 32] {
        match self.state.read(path) {
            Ok(Some(b)) => Sha256::digest(&b).into(),
            _ => [0; 32],
        }
    }

    /// keystored at start. A store without a manifest (the first layout:
    /// plain TOML files, or records whose manifest write was interrupted)
    /// gets every entry rewritten as a record and a manifest; an entry
    /// that cannot be read is listed as it is found (so it stays damaged,
    /// named, for exactly the answers that depend on its kid). A distrust
    /// entry that names no kid stops the upgrade (the manifest could not
    /// list it): the whole state side stays unknown; an installed one is
    /// left as a stray. A store with a manifest
    /// loses the files the manifest does not list (leftovers of an
    /// interrupted write). Returns how many entries were upgraded or
    /// removed.
    pub(crate) fn upgrade_or_reconcile(&self) -> Result<usize, TrustError> {
        let installed = listing(self.state, INSTALLED)?.unwrap_or_default();
        let distrusted = listing(self.state, DISTRUSTED)?.unwrap_or_default();
        if let Some(m) = self.manifest()? {
            let mut removed = 0;
            let stale = |e: &DirEntry, listed: bool| {
                !listed && e.kind != EntryKind::Dir && e.path.is_some()
            };
            for e in &installed {
                let listed =
                    kid_of_root_name(&e.name).is_some_and(|k| m.installed.contains_key(&k));
                if let (true, Some(path)) = (stale(e, listed), &e.path) {
                    removed += usize::from(self.state.delete(path)?);
                }
            }
            for e in &distrusted {
                let listed =
                    kid_of_distrust_name(&e.name).is_some_and(|k| m.distrusted.contains_key(&k));
                if let (true, Some(path)) = (stale(e, listed), &e.path) {
                    removed += usize::from(self.state.delete(path)?);
                }
            }
            return Ok(removed);
        }
        if installed.is_empty() && distrusted.is_empty() {
            return Ok(0);
        }
        // A distrust entry that names no kid cannot be listed, and leaving
        // it out could make its root trusted again: stop before anything
        // is written. An installed entry that names none is left as a
        // stray (leaving a root out never trusts more).
        for e in &distrusted {
            if kid_of_distrust_name(&e.name).is_none()
                || e.path.is_none()
                || e.kind == EntryKind::Dir
            {
                return Err(unattributable(DISTRUSTED, e));
            }
        }
        let mut m = Manifest::default();
        for e in &installed {
            let (Some(kid), Some(f), false) =
                (kid_of_root_name(&e.name), &e.path, e.kind == EntryKind::Dir)
            else {
                continue;
            };
            match self.upgraded_root(f, &e.name) {
                Ok(root) => {
                    m.installed.insert(kid, self.write_root(&root)?);
                }
                Err(_) => {
                    m.installed.insert(kid, self.digest_as_found(f));
                }
            }
        }
        for e in &distrusted {
            let (Some(kid), Some(f)) = (kid_of_distrust_name(&e.name), &e.path) else {
                continue;
            };
            match self.upgraded_distrust(f, &e.name) {
                Ok(k) if k == kid => {
                    m.distrusted.insert(kid, self.write_distrust(&kid)?);
                }
                _ => {
                    m.distrusted.insert(kid, self.digest_as_found(f));
                }
            }
        }
        let n = m.installed.len() + m.distrusted.len();
        self.write_manifest(&m)?;
        Ok(n)
    }

    /// A root file of either layout (a record, or a plain file of the
    /// first layout in either root format).
    fn upgraded_root(&self, f: &StatePath, name: &str) -> Result<TrustRoot, TrustError> {
        let bytes = self.state.read(f)?.unwrap_or_default();
        let root = match record::decode_with(f, &bytes, ROOT_MAGIC, &[VERSION], TagCheck::Trusted) {
            Ok(rec) => TrustRoot::parse_file(name, rec.payload),
            Err(_) => TrustRoot::parse(&bytes).and_then(|r| {
                if r.file_name() == name {
                    Ok(r)
                } else {
                    Err(RootError::NameMismatch)
                }
            }),
        }?;
        Ok(root)
    }

    /// A distrust entry of either layout.
    fn upgraded_distrust(&self, f: &StatePath, name: &str) -> Result<Kid, TrustError> {
        let bytes = self.state.read(f)?.unwrap_or_default();
        let kid =
            match record::decode_with(f, &bytes, DISTRUST_MAGIC, &[VERSION], TagCheck::Trusted) {
                Ok(rec) => parse_distrust(name, rec.payload),
                Err(_) => parse_distrust_any(name, &bytes),
            }?;
        Ok(kid)
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
