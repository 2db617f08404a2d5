//! What a journal does when it opens a log: create or open files, cut a
//! torn last line, find where the chain stands (also after a damaged last
//! line or a rotation cut short by a crash), and hash an old-format file.

use super::ChainPos;
use crate::files::{self, Item, LineReader};
use crate::line;
use crate::AuditError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub(super) fn unusable(file: &str, reason: &'static str) -> AuditError {
    AuditError::Unusable {
        file: file.to_owned(),
        reason,
    }
}

pub(super) fn open_append(path: &Path, create_new: bool) -> Result<File, AuditError> {
    use rustix::fs::{Mode, OFlags};
    let mut flags =
        OFlags::RDWR | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if create_new {
        flags |= OFlags::EXCL;
    }
    let fd =
        rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)).map_err(std::io::Error::from)?;
    let file = File::from(fd);
    if !file.metadata()?.file_type().is_file() {
        return Err(unusable(&path.display().to_string(), "not a regular file"));
    }
    Ok(file)
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The lines at the end of `file` (at most 64 KiB worth), after cutting a
/// torn last line (no newline) off the file.
pub(super) fn tail_lines(file: &mut File, name: &str) -> Result<Vec<Vec<u8>>, AuditError> {
    let size = file.metadata()?.len();
    let start = size.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else {
        if start == 0 {
            // Nothing but a torn line: cut it.
            file.set_len(0)?;
            return Ok(Vec::new());
        }
        return Err(unusable(name, "a line longer than 64 KiB at its end"));
    };
    if last_nl + 1 < buf.len() {
        // A line whose write was cut short by a crash: never acknowledged.
        file.set_len(start + last_nl as u64 + 1)?;
        file.sync_data()?;
        buf.truncate(last_nl + 1);
    }
    let mut lines: Vec<Vec<u8>> = buf
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if start > 0 && !lines.is_empty() {
        // The first piece may be the end of a longer line.
        lines.remove(0);
    }
    Ok(lines)
}

pub(super) fn first_line(path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
    let mut r = LineReader::new(files::open_log(path)?);
    Ok(match r.next_item()? {
        Some(Item::Line(l)) => Some(l),
        _ => None,
    })
}

/// Where the chain stands at the end of `lines` (the tail of a file whose
/// first line is chained): the last line's seq + 1 and its hash. A damaged
/// last line is counted from the last line that still parses, so numbering
/// goes on and `verify` reports the damage.
pub(super) fn position_after(lines: &[Vec<u8>]) -> Option<ChainPos> {
    let last = lines.last()?;
    let (k, fields) = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| line::chain_fields(l).map(|c| (i, c)))?;
    let after = (lines.len() - 1 - k) as u64;
    Some(ChainPos {
        next_seq: fields.seq.checked_add(after)?.checked_add(1)?,
        head: line::hash(last),
    })
}

pub(super) fn sha256_file(path: &Path) -> Result<(String, u64), AuditError> {
    use sha2::{Digest, Sha256};
    let mut f = files::open_log(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}
