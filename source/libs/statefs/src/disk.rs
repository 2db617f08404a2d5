//! The state directory on disk, reached only through its directory fd.
//!
//! Invariants:
//! - The directory is refused at open unless it is a directory owned by
//!   the effective uid and not writable by group or others.
//! - Every path is walked one component at a time with `O_NOFOLLOW`: a
//!   symlink anywhere, a file where a directory should be, or anything but
//!   a regular file at the end is [`StateError::Corrupt`] (`EIO`), never
//!   followed and never skipped. Opens are `O_NONBLOCK`, so a FIFO planted
//!   as a record cannot hang a reader.
//! - Directories are created 0700, files 0600.
//! - A write is atomic: temp file `.tmp.<name>.<pid>.<seq>` in the same
//!   directory, `fdatasync`, rename, `fsync` of the directory. The steps
//!   are separate calls ([`TempFile`]) so that a state root can put its
//!   journal's group commit between the temp file's sync and the rename; a
//!   temp file dropped before its rename is removed.
//! - The top-level names `audit`, `root` and `run` belong to the audit
//!   logs, the state roots' snapshots and the sockets: walks from the top
//!   skip them.

use crate::path::StatePath;
use crate::StateError;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

/// Top-level directories that are not records.
pub(crate) const RESERVED: [&str; 3] = ["audit", "root", "run"];

/// The largest file statefs reads (a bundle holds at most 64 MiB in all).
pub(crate) const MAX_READ: u64 = 64 << 20;

pub(crate) struct Disk {
    root: PathBuf,
    fd: OwnedFd,
    tmp_seq: AtomicU64,
}

fn corrupt(path: &StatePath, reason: &'static str) -> StateError {
    StateError::Corrupt {
        path: path.to_string(),
        reason,
    }
}

fn io(path: &StatePath, e: impl Into<std::io::Error>) -> StateError {
    StateError::Io {
        path: path.to_string(),
        source: e.into(),
    }
}

/// Map an open/mkdir error of a path component.
fn component_err(path: &StatePath, e: Errno) -> StateError {
    match e {
        Errno::LOOP | Errno::NOTDIR | Errno::MLINK => corrupt(
            path,
            "a symlink or a non-directory where a directory should be",
        ),
        e => io(path, e),
    }
}

/// Check that `fd` is a directory we may trust: ours, not writable by
/// group or others.
fn check_private_dir(fd: &OwnedFd, host: &Path) -> Result<(), StateError> {
    let st = rustix::fs::fstat(fd).map_err(|e| StateError::Unsafe {
        path: host.display().to_string(),
        reason: "cannot stat it",
        source: Some(e.into()),
    })?;
    let unsafe_dir = |reason| StateError::Unsafe {
        path: host.display().to_string(),
        reason,
        source: None,
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(unsafe_dir("not a directory"));
    }
    if st.st_uid != rustix::process::geteuid().as_raw() {
        return Err(unsafe_dir("not owned by this daemon's user"));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(unsafe_dir("writable by group or others"));
    }
    Ok(())
}

/// A temp file written and synced, not yet renamed over its target.
pub(crate) struct TempFile {
    dir: OwnedFd,
    tmp: String,
    name: String,
    path: StatePath,
    renamed: bool,
}

impl TempFile {
    /// Rename over the target (the commit point on disk).
    pub(crate) fn rename(&mut self) -> Result<(), StateError> {
        rustix::fs::renameat(&self.dir, self.tmp.as_str(), &self.dir, self.name.as_str())
            .map_err(|e| io(&self.path, e))?;
        self.renamed = true;
        Ok(())
    }

    /// `fsync` the directory, making the rename durable.
    pub(crate) fn sync_dir(&self) -> Result<(), StateError> {
        rustix::fs::fsync(&self.dir).map_err(|e| io(&self.path, e))
    }

    /// Leave the temp file where it is, as a crash would (only simulated
    /// crashes in tests reach this).
    pub(crate) fn abandon(mut self) {
        self.renamed = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = rustix::fs::unlinkat(&self.dir, self.tmp.as_str(), AtFlags::empty());
        }
    }
}

/// The directory of a record, opened, and the record's name in it.
pub(crate) struct Parent {
    dir: OwnedFd,
    name: String,
    path: StatePath,
}

impl Parent {
    /// Remove the file; whether it existed. A directory there is corrupt.
    pub(crate) fn unlink(&self) -> Result<bool, StateError> {
        match rustix::fs::unlinkat(&self.dir, self.name.as_str(), AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(Errno::ISDIR) => Err(corrupt(&self.path, "a directory where a record should be")),
            Err(e) => Err(io(&self.path, e)),
        }
    }

    /// `fsync` the directory.
    pub(crate) fn sync(&self) -> Result<(), StateError> {
        rustix::fs::fsync(&self.dir).map_err(|e| io(&self.path, e))
    }
}

impl Disk {
    /// Open (creating it 0700 if needed) the state directory at `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Disk, StateError> {
        use std::os::unix::fs::DirBuilderExt;
        let unsafe_err = |reason, e: std::io::Error| StateError::Unsafe {
            path: dir.display().to_string(),
            reason,
            source: Some(e),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| unsafe_err("cannot create it", e))?;
        let root = std::fs::canonicalize(dir).map_err(|e| unsafe_err("cannot resolve it", e))?;
        let fd = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| unsafe_err("cannot open it", e.into()))?;
        check_private_dir(&fd, &root)?;
        Ok(Disk {
            root,
            fd,
            tmp_seq: AtomicU64::new(0),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn host(&self, path: &StatePath) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(path.segments());
        p
    }

    /// Open the directory made of `segs` (creating missing ones 0700 when
    /// `create`); `None` if absent and not created.
    fn open_dir(
        &self,
        segs: &[String],
        create: bool,
        path: &StatePath,
    ) -> Result<Option<OwnedFd>, StateError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut cur = rustix::io::dup(&self.fd).map_err(|e| io(path, e))?;
        for seg in segs {
            let next = match rustix::fs::openat(&cur, seg.as_str(), flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, seg.as_str(), Mode::from_raw_mode(0o700)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(component_err(path, e)),
                    }
                    rustix::fs::openat(&cur, seg.as_str(), flags, Mode::empty())
                        .map_err(|e| component_err(path, e))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(component_err(path, e)),
            };
            cur = next;
        }
        Ok(Some(cur))
    }

    fn split(path: &StatePath) -> Result<(&[String], &str), StateError> {
        match path.segments().split_last() {
            Some((name, dirs)) => Ok((dirs, name.as_str())),
            None => Err(corrupt(path, "the root is not a record")),
        }
    }

    /// The bytes of the regular file at `path`, `None` if there is none.
    /// Read in one allocation of the file's size, zeroized when dropped.
    pub(crate) fn read(&self, path: &StatePath) -> Result<Option<Zeroizing<Vec<u8>>>, StateError> {
        let (dirs, name) = Self::split(path)?;
        let Some(dir) = self.open_dir(dirs, false, path)? else {
            return Ok(None);
        };
        let fd = match rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(corrupt(path, "a symlink where a record should be")),
            Err(e) => return Err(io(path, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io(path, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(corrupt(path, "not a regular file"));
        }
        let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
        if size > MAX_READ {
            return Err(corrupt(path, "larger than any record"));
        }
        let mut buf = Zeroizing::new(vec![0u8; size as usize]);
        let mut file = File::from(fd);
        let mut at = 0;
        while at < buf.len() {
            match file.read(&mut buf[at..]) {
                Ok(0) => return Err(corrupt(path, "shorter than its size")),
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(path, e)),
            }
        }
        Ok(Some(buf))
    }

    /// Write `bytes` to a new temp file beside `path` and sync it.
    pub(crate) fn write_temp(
        &self,
        path: &StatePath,
        bytes: &[u8],
    ) -> Result<TempFile, StateError> {
        let (dirs, name) = Self::split(path)?;
        let dir = self
            .open_dir(dirs, true, path)?
            .ok_or_else(|| corrupt(path, "its directory cannot be created"))?;
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = format!(".tmp.{name}.{}.{seq}", std::process::id());
        let fd = rustix::fs::openat(
            &dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io(path, e))?;
        let t = TempFile {
            dir,
            tmp,
            name: name.to_owned(),
            path: path.clone(),
            renamed: false,
        };
        let mut file = File::from(fd);
        file.write_all(bytes).map_err(|e| io(path, e))?;
        file.sync_data().map_err(|e| io(path, e))?;
        Ok(t)
    }

    /// The open directory of `path` (which must exist) and its name.
    pub(crate) fn parent(&self, path: &StatePath) -> Result<Option<Parent>, StateError> {
        let (dirs, name) = Self::split(path)?;
        Ok(self.open_dir(dirs, false, path)?.map(|dir| Parent {
            dir,
            name: name.to_owned(),
            path: path.clone(),
        }))
    }

    /// Every file under `prefix` (any depth), sorted. Names starting with
    /// `.` are skipped; symlinks and special files are listed (reading them
    /// is `EIO`); a name that is not a valid segment, or `prefix` not being
    /// a directory, is corrupt.
    pub(crate) fn walk(&self, prefix: &StatePath) -> Result<Vec<StatePath>, StateError> {
        let mut out = Vec::new();
        if let Some(fd) = self.open_dir(prefix.segments(), false, prefix)? {
            self.walk_fd(fd, prefix, &mut out, &mut |_, _, _| Ok(()))?;
        }
        out.sort();
        Ok(out)
    }

    /// Walk `fd` (the directory `at`): files into `out`, hidden names to
    /// `hidden(dir, at, name)`.
    fn walk_fd(
        &self,
        fd: OwnedFd,
        at: &StatePath,
        out: &mut Vec<StatePath>,
        hidden: &mut dyn FnMut(&OwnedFd, &StatePath, &str) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut dir = rustix::fs::Dir::read_from(&fd).map_err(|e| io(at, e))?;
        let mut subdirs = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| io(at, e))?;
            let raw = entry.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(raw) else {
                return Err(corrupt(at, "a name that is not UTF-8"));
            };
            if name.starts_with('.') {
                hidden(&fd, at, name)?;
                continue;
            }
            if at.segments().is_empty() && RESERVED.contains(&name) {
                continue;
            }
            let child = at
                .join(name)
                .map_err(|_| corrupt(at, "a name that is not a valid state path segment"))?;
            let ft = match entry.file_type() {
                FileType::Unknown => {
                    let st = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| io(&child, e))?;
                    FileType::from_raw_mode(st.st_mode)
                }
                ft => ft,
            };
            if ft == FileType::Directory {
                subdirs.push((name.to_owned(), child));
            } else {
                out.push(child);
            }
        }
        for (name, child) in subdirs {
            let sub = rustix::fs::openat(
                &fd,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| component_err(&child, e))?;
            self.walk_fd(sub, &child, out, hidden)?;
        }
        Ok(())
    }

    /// The entries directly under `dir`, sorted by name, each with what it
    /// is (nothing followed); `None` if `dir` does not exist. Temp files
    /// and, at the top, the reserved names are left out.
    pub(crate) fn entries(
        &self,
        dir: &StatePath,
    ) -> Result<Option<Vec<crate::entries::DirEntry>>, StateError> {
        use crate::entries::{kind_of, DirEntry};
        let Some(fd) = self.open_dir(dir.segments(), false, dir)? else {
            return Ok(None);
        };
        let mut list = rustix::fs::Dir::read_from(&fd).map_err(|e| io(dir, e))?;
        let mut out = Vec::new();
        while let Some(entry) = list.read() {
            let entry = entry.map_err(|e| io(dir, e))?;
            let raw = entry.file_name().to_bytes();
            if raw == b"." || raw == b".." || raw.starts_with(b".tmp.") {
                continue;
            }
            let name = String::from_utf8_lossy(raw).into_owned();
            if dir.segments().is_empty() && RESERVED.contains(&name.as_str()) {
                continue;
            }
            let path = std::str::from_utf8(raw).ok().and_then(|n| dir.join(n).ok());
            let ft = match entry.file_type() {
                FileType::Unknown => {
                    let st = rustix::fs::statat(&fd, raw, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| io(dir, e))?;
                    FileType::from_raw_mode(st.st_mode)
                }
                ft => ft,
            };
            out.push(DirEntry {
                name,
                path,
                kind: kind_of(ft),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(out))
    }

    /// Remove temp files (`.tmp.<name>.<pid>.<seq>`) under `under` whose
    /// target `dir/<name>` satisfies `owned`; returns how many.
    pub(crate) fn remove_temps(
        &self,
        under: &StatePath,
        owned: &dyn Fn(&StatePath) -> bool,
    ) -> Result<usize, StateError> {
        let Some(fd) = self.open_dir(under.segments(), false, under)? else {
            return Ok(0);
        };
        let mut removed = 0usize;
        let mut files = Vec::new();
        self.walk_fd(fd, under, &mut files, &mut |dir, at, name| {
            let Some(target) = temp_target(name) else {
                return Ok(());
            };
            let Ok(path) = at.join(&target) else {
                return Ok(());
            };
            if owned(&path) {
                match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                    Ok(()) => removed += 1,
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(io(&path, e)),
                }
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// Free bytes for an unprivileged writer on the state's file system.
    pub(crate) fn free_bytes(&self) -> std::io::Result<u64> {
        let st = rustix::fs::fstatvfs(&self.fd)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }
}

/// The target name of a temp file `.tmp.<name>.<pid>.<seq>`.
pub(crate) fn temp_target(tmp: &str) -> Option<String> {
    let rest = tmp.strip_prefix(".tmp.")?;
    let mut parts = rest.rsplitn(3, '.');
    let seq = parts.next()?;
    let pid = parts.next()?;
    let name = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(seq) && digits(pid) && !name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_parse() {
        assert_eq!(temp_target(".tmp.k1.123.4"), Some("k1".into()));
        assert_eq!(temp_target(".tmp.vault.kv.1.0"), Some("vault.kv".into()));
        assert_eq!(temp_target(".tmp.k1.123"), None);
        assert_eq!(temp_target(".tmp..1.2"), None);
        assert_eq!(temp_target(".tmp.k.x.2"), None);
        assert_eq!(temp_target("k.1.2"), None);
    }
}
