//! A service's log files in an audit directory, and reading their lines.
//!
//! Names (`<svc>` is the service name, `[a-z0-9_-]`, 1 to 64 bytes):
//! - `<svc>.jsonl`: the current file, the one being appended to;
//! - `<svc>.<first seq, 20 digits>.jsonl`: a rotated file, whose first
//!   line has that number;
//! - `<svc>.legacy.jsonl` (and `<svc>.legacy.<n>.jsonl`): a log found in
//!   the old, unchained format, kept aside when the chain started.
//!
//! Anything else in the directory is not a log of `<svc>` and is ignored.
//! Files are opened `O_NOFOLLOW` and must be regular files.

use crate::line::MAX_LINE;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};

/// What a log file is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// An old-format log kept aside (its number, 0 for the first).
    Legacy(u32),
    /// A rotated file whose first line has this seq.
    Rotated(u64),
    /// The file being appended to.
    Current,
}

/// One log file of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Its path.
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// What it is.
    pub kind: FileKind,
}

/// Whether `svc` is a valid service name.
pub fn valid_service(svc: &str) -> bool {
    !svc.is_empty()
        && svc.len() <= 64
        && svc
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `<svc>.jsonl`.
pub fn current_name(svc: &str) -> String {
    format!("{svc}.jsonl")
}

/// `<svc>.<first_seq, 20 digits>.jsonl`.
pub fn rotated_name(svc: &str, first_seq: u64) -> String {
    format!("{svc}.{first_seq:020}.jsonl")
}

/// The name of legacy file number `n`.
pub fn legacy_name(svc: &str, n: u32) -> String {
    if n == 0 {
        format!("{svc}.legacy.jsonl")
    } else {
        format!("{svc}.legacy.{n}.jsonl")
    }
}

/// The kind of file `name` is for `svc`, if it is one of its logs.
pub fn kind_of(svc: &str, name: &str) -> Option<FileKind> {
    let rest = name.strip_prefix(svc)?.strip_prefix('.')?;
    let mid = rest.strip_suffix(".jsonl");
    match mid {
        None if rest == "jsonl" => Some(FileKind::Current),
        Some("legacy") => Some(FileKind::Legacy(0)),
        Some(m) => {
            if let Some(n) = m.strip_prefix("legacy.") {
                let n: u32 = n.parse().ok()?;
                (n > 0 && n.to_string() == m["legacy.".len()..]).then_some(FileKind::Legacy(n))
            } else if m.len() == 20 && m.bytes().all(|b| b.is_ascii_digit()) {
                m.parse().ok().map(FileKind::Rotated)
            } else {
                None
            }
        }
        None => None,
    }
}

/// Every log file of `svc` in `dir`, oldest first (legacy, rotated by
/// first seq, current). A missing directory has none.
pub fn list(dir: &Path, svc: &str) -> std::io::Result<Vec<LogFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(kind) = kind_of(svc, &name) {
            out.push(LogFile {
                path: entry.path(),
                name,
                kind,
            });
        }
    }
    out.sort_by_key(|f| f.kind);
    Ok(out)
}

/// The services with a log in `dir`, sorted.
pub fn services(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(svc) = name.split('.').next() else {
            continue;
        };
        if valid_service(svc) && kind_of(svc, &name).is_some() && !out.iter().any(|s| s == svc) {
            out.push(svc.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Open a log file for reading: `O_NOFOLLOW`, a regular file.
pub fn open_log(path: &Path) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)?;
    let file = File::from(fd);
    if !file.metadata()?.file_type().is_file() {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// One item of [`LineReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A whole line, newline included.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`] (its length).
    TooLong(usize),
    /// Bytes after the last newline (a line being written, or torn).
    Partial(Vec<u8>),
}

/// The lines of one file, read with bounded memory.
pub struct LineReader {
    reader: BufReader<File>,
    done: bool,
}

impl LineReader {
    /// Read `file` from its current position.
    pub fn new(file: File) -> LineReader {
        LineReader {
            reader: BufReader::with_capacity(64 * 1024, file),
            done: false,
        }
    }

    /// The next item, or `None` at the end.
    pub fn next_item(&mut self) -> std::io::Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        let mut buf = Vec::new();
        let mut total = 0usize;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                self.done = true;
                return Ok(match (total, buf.is_empty()) {
                    (0, _) => None,
                    (n, true) => Some(Item::TooLong(n)),
                    (_, false) => Some(Item::Partial(buf)),
                });
            }
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            total += take;
            if total <= MAX_LINE {
                buf.extend_from_slice(&chunk[..take]);
            } else {
                buf.clear();
            }
            self.reader.consume(take);
            if end {
                return Ok(Some(if total <= MAX_LINE {
                    Item::Line(buf)
                } else {
                    Item::TooLong(total)
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(
            kind_of("keystored", "keystored.jsonl"),
            Some(FileKind::Current)
        );
        assert_eq!(
            kind_of("keystored", &rotated_name("keystored", 42)),
            Some(FileKind::Rotated(42))
        );
        assert_eq!(
            kind_of("keystored", &legacy_name("keystored", 0)),
            Some(FileKind::Legacy(0))
        );
        assert_eq!(
            kind_of("keystored", &legacy_name("keystored", 3)),
            Some(FileKind::Legacy(3))
        );
        assert!(FileKind::Legacy(3) < FileKind::Rotated(0));
        assert!(FileKind::Rotated(u64::MAX) < FileKind::Current);
    }

    #[test]
    fn test_reject_other_names() {
        for other in [
            "keystored",
            "keystored.json",
            "keystored.1.jsonl",
            "keystored.legacy.0.jsonl",
            "keystored.legacy.01.jsonl",
            "keystored.legacy.x.jsonl",
            "keystoredx.jsonl",
            "identityd.jsonl",
            ".tmp.keystored.jsonl",
            "keystored.0000000000000000000a.jsonl",
        ] {
            assert_eq!(kind_of("keystored", other), None, "{other}");
        }
        assert!(!valid_service(""));
        assert!(!valid_service("Key"));
        assert!(!valid_service("a.b"));
    }

    #[test]
    fn reads_lines_partial_tail_and_overlong_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let long = vec![b'a'; MAX_LINE + 5];
        let mut content = b"one\ntwo\n".to_vec();
        content.extend_from_slice(&long);
        content.extend_from_slice(b"\nthree\ntor");
        std::fs::write(&p, &content).unwrap();
        let mut r = LineReader::new(open_log(&p).unwrap());
        let mut items = Vec::new();
        while let Some(i) = r.next_item().unwrap() {
            items.push(i);
        }
        assert_eq!(
            items,
            vec![
                Item::Line(b"one\n".to_vec()),
                Item::Line(b"two\n".to_vec()),
                Item::TooLong(MAX_LINE + 6),
                Item::Line(b"three\n".to_vec()),
                Item::Partial(b"tor".to_vec()),
            ]
        );
    }

    #[test]
    fn test_reject_symlinked_log() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "x\n").unwrap();
        let link = dir.path().join("svc.jsonl");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(open_log(&link).is_err());
        std::fs::create_dir(dir.path().join("d.jsonl")).unwrap();
        assert!(open_log(&dir.path().join("d.jsonl")).is_err());
    }
}
