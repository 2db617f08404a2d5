//! A strict parser for `/proc/self/mountinfo`.
//!
//! PID 1 asks "is X mounted at Y?" before mounting (to skip what the kernel
//! or a previous step already did) and after (to prove a mount happened).
//! The answer comes from the kernel's own table, never from a mount(2)
//! return code alone.
//!
//! Invariants: a line that does not have the documented shape
//! (`id parent maj:min root mountpoint options [optional…] - fstype source
//! superopts`) is an error, not skipped; octal escapes (`\040` etc.) are
//! decoded and a malformed escape is an error; when several mounts stack on
//! one mount point, the last listed (the visible one) wins.

use nexus_core::{Coded, ErrorCode};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One mount as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted (escapes decoded).
    pub mount_point: PathBuf,
    /// The file system type, e.g. `ext4`, `proc`, `devtmpfs`.
    pub fstype: String,
    /// The mount source, e.g. `/dev/nvme0n1` (escapes decoded).
    pub source: OsString,
}

/// A line of mountinfo did not have the documented shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed mountinfo line {line}: {reason}")]
pub struct MountInfoError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl Coded for MountInfoError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}

/// Parse the whole text of a mountinfo file.
pub fn parse(text: &[u8]) -> Result<Vec<MountEntry>, MountInfoError> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            parse_line(l).map_err(|reason| MountInfoError {
                line: i + 1,
                reason,
            })
        })
        .collect()
}

/// The visible mount at `mount_point`, if any.
pub fn find<'a>(entries: &'a [MountEntry], mount_point: &Path) -> Option<&'a MountEntry> {
    entries.iter().rev().find(|e| e.mount_point == mount_point)
}

fn parse_line(line: &[u8]) -> Result<MountEntry, &'static str> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == b"-")
        .ok_or("no '-' separator")?;
    // Six fixed fields precede the optional ones; three follow the separator.
    if sep < 6 {
        return Err("too few fields before separator");
    }
    if fields.len() != sep + 4 {
        return Err("expected three fields after separator");
    }
    if fields[..6]
        .iter()
        .chain(&fields[sep + 1..])
        .any(|f| f.is_empty())
    {
        return Err("empty field");
    }
    let mount_point = PathBuf::from(OsString::from_vec(unescape(fields[4])?));
    let fstype = String::from_utf8(unescape(fields[sep + 1])?).map_err(|_| "fstype not UTF-8")?;
    let source = OsString::from_vec(unescape(fields[sep + 2])?);
    Ok(MountEntry {
        mount_point,
        fstype,
        source,
    })
}

/// Decode the kernel's `\ooo` escapes (used for space, tab, newline and
/// backslash).
fn unescape(field: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' {
            let digits = field.get(i + 1..i + 4).ok_or("truncated escape")?;
            let mut v: u32 = 0;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return Err("bad octal escape");
                }
                v = v * 8 + u32::from(d - b'0');
            }
            out.push(u8::try_from(v).map_err(|_| "escape out of range")?);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
1 1 0:2 / / rw - rootfs rootfs rw,size=1000k\n\
15 1 0:14 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n\
16 1 0:15 / /sys rw,relatime shared:2 master:1 - sysfs sysfs rw\n\
17 1 0:5 / /dev rw,relatime - devtmpfs devtmpfs rw,size=4k,mode=755\n\
18 1 259:0 / /state rw,nosuid,nodev,noexec,relatime - ext4 /dev/nvme0n1 rw\n";

    #[test]
    fn parses_a_real_shaped_table() {
        let e = parse(SAMPLE).unwrap();
        assert_eq!(e.len(), 5);
        let st = find(&e, Path::new("/state")).unwrap();
        assert_eq!(st.fstype, "ext4");
        assert_eq!(st.source, OsString::from("/dev/nvme0n1"));
        // Optional fields ("shared:2 master:1") do not shift the others.
        assert_eq!(find(&e, Path::new("/sys")).unwrap().fstype, "sysfs");
        assert!(find(&e, Path::new("/tmp")).is_none());
    }

    #[test]
    fn empty_table_is_empty() {
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"\n").unwrap(), vec![]);
    }

    #[test]
    fn decodes_escapes() {
        let e = parse(b"30 1 8:1 / /mnt/a\\040b\\134c rw - ext4 /dev/x\\011y rw\n").unwrap();
        assert_eq!(e[0].mount_point, Path::new("/mnt/a b\\c"));
        assert_eq!(e[0].source, OsString::from("/dev/x\ty"));
    }

    #[test]
    fn last_stacked_mount_wins() {
        let text =
            b"20 1 0:5 / /dev rw - tmpfs none rw\n21 20 0:6 / /dev rw - devtmpfs devtmpfs rw\n";
        let e = parse(text).unwrap();
        assert_eq!(find(&e, Path::new("/dev")).unwrap().fstype, "devtmpfs");
    }

    #[test]
    fn test_reject_missing_separator() {
        let err = parse(b"15 1 0:14 / /proc rw proc proc rw\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_truncated_line() {
        for bad in [
            &b"15 1 0:14 / - proc proc rw\n"[..],
            &b"15 1 0:14 / /proc rw - proc proc\n"[..],
            &b"15 1 0:14 / /proc rw - proc proc rw extra\n"[..],
            &b"15 1 0:14 / /proc rw -\n"[..],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Eio, "{bad:?}");
        }
    }

    #[test]
    fn test_reject_empty_field() {
        let err = parse(b"15 1 0:14 /  rw - proc proc rw\n").unwrap_err();
        assert_eq!(err.reason, "empty field");
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_bad_escapes() {
        for bad in [
            &b"1 1 0:1 / /a\\04 rw - ext4 s rw\n"[..],
            &b"1 1 0:1 / /a\\ rw - ext4 s rw\n"[..],
            &b"1 1 0:1 / /a\\08x rw - ext4 s rw\n"[..],
            &b"1 1 0:1 / /a\\777 rw - ext4 s rw\n"[..],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Eio, "{bad:?}");
        }
    }

    #[test]
    fn test_reject_error_names_the_line() {
        let mut text = SAMPLE.to_vec();
        text.extend_from_slice(b"garbage\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 6);
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_non_utf8_fstype() {
        let err = parse(b"1 1 0:1 / /a rw - ext\xff s rw\n").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn parses_this_hosts_table() {
        // The real file, on whatever machine runs the tests: the parser must
        // accept what a kernel actually writes, and "/" is always there.
        let text = std::fs::read("/proc/self/mountinfo").unwrap();
        let e = parse(&text).unwrap();
        assert!(find(&e, Path::new("/")).is_some());
    }
}
