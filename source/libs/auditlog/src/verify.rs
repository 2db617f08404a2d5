//! Checking a service's chain: every line's `prev` is the hash of the line
//! before it and seqs follow each other, across rotated files; the first
//! broken line is reported. No key is needed.
//!
//! What a clean report does and does not prove: nobody changed, removed or
//! inserted a line *inside* the kept files without rewriting every later
//! line. Someone who rewrites the whole tail consistently is caught only
//! by a checkpoint held elsewhere (a state root's MAC'd snapshot records
//! the chain head, see [`Checkpoint`]); lines removed from the start by
//! retention are reported as such, not as a break.

use crate::files::{self, FileKind, Item, LineReader};
use crate::line::{self, GENESIS};
use crate::AuditError;
use std::path::Path;

/// A chain position recorded elsewhere: line `seq` must hash to `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The line's seq.
    pub seq: u64,
    /// SHA-256 of that line.
    pub head: [u8; 32],
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The file it is in.
    pub file: String,
    /// Its line number in that file, from 1 (0: the file as a whole).
    pub line: u64,
    /// Its seq, if it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The service.
    pub service: String,
    /// Files read.
    pub files: usize,
    /// Chained lines checked.
    pub lines: u64,
    /// Lines of old-format (unchained) files, counted, not checked.
    pub legacy_lines: u64,
    /// The first chained line's seq.
    pub first_seq: Option<u64>,
    /// The last chained line's seq.
    pub last_seq: Option<u64>,
    /// The first kept line is not line 0: earlier lines were removed by
    /// retention, so its `prev` cannot be checked.
    pub starts_after_retention: bool,
    /// The current file ends in a partial line (one being written).
    pub partial_tail: bool,
    /// Checkpoints found at their line with the right hash.
    pub checkpoints_matched: usize,
    /// The first break, if any.
    pub broken: Option<Break>,
}

impl Report {
    /// Whether the chain holds.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

struct Walker<'a> {
    report: Report,
    prev: Option<(u64, [u8; 32])>,
    checkpoints: &'a [Checkpoint],
    dir: &'a Path,
}

impl Walker<'_> {
    fn fail(&mut self, file: &str, line: u64, seq: Option<u64>, reason: impl Into<String>) {
        if self.report.broken.is_none() {
            self.report.broken = Some(Break {
                file: file.to_owned(),
                line,
                seq,
                reason: reason.into(),
            });
        }
    }

    fn check_line(&mut self, file: &str, n: u64, l: &[u8]) {
        let parsed = match line::parse(l) {
            Ok(p) => p,
            Err(why) => {
                let seq = self.prev.map(|(s, _)| s + 1);
                return self.fail(file, n, seq, why);
            }
        };
        let seq = parsed.chain.seq;
        match self.prev {
            Some((ps, ph)) => {
                if seq != ps.wrapping_add(1) {
                    return self.fail(file, n, Some(seq), format!("seq {seq} follows {ps}"));
                }
                if parsed.chain.prev != ph {
                    return self.fail(
                        file,
                        n,
                        Some(seq),
                        "prev is not the hash of the line before",
                    );
                }
            }
            None => {
                if seq == 0 {
                    if parsed.chain.prev != GENESIS {
                        return self.fail(file, n, Some(0), "line 0 has a prev other than zeros");
                    }
                } else {
                    self.report.starts_after_retention = true;
                }
                self.report.first_seq = Some(seq);
            }
        }
        if let (Some(name), Some(want)) = (parsed.text("legacy_file"), parsed.text("legacy_sha256"))
        {
            let legacy = self.dir.join(name);
            if files::kind_of(&self.report.service, name).is_some() && legacy.exists() {
                match sha256_hex(&legacy) {
                    Ok(got) if got == want => {}
                    Ok(_) => {
                        return self.fail(
                            name,
                            0,
                            Some(seq),
                            "old-format log changed since the chain started",
                        )
                    }
                    Err(e) => return self.fail(name, 0, Some(seq), format!("unreadable: {e}")),
                }
            }
        }
        let h = line::hash(l);
        for c in self.checkpoints {
            if c.seq == seq {
                if c.head == h {
                    self.report.checkpoints_matched += 1;
                } else {
                    return self.fail(file, n, Some(seq), "line differs from the checkpoint");
                }
            }
        }
        self.prev = Some((seq, h));
        self.report.last_seq = Some(seq);
        self.report.lines += 1;
    }
}

fn sha256_hex(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = files::open_log(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// Check the chain of `svc`'s logs in `dir`, and that each checkpoint's
/// line is there with its hash (a checkpoint past the last line means the
/// log was cut short).
pub fn verify(dir: &Path, svc: &str, checkpoints: &[Checkpoint]) -> Result<Report, AuditError> {
    let list = files::list(dir, svc)?;
    let mut w = Walker {
        report: Report {
            service: svc.to_owned(),
            ..Report::default()
        },
        prev: None,
        checkpoints,
        dir,
    };
    let last_index = list.len().saturating_sub(1);
    for (i, f) in list.iter().enumerate() {
        w.report.files += 1;
        let mut r = match files::open_log(&f.path) {
            Ok(file) => LineReader::new(file),
            Err(e) => {
                w.fail(&f.name, 0, None, format!("unreadable: {e}"));
                break;
            }
        };
        let mut n = 0u64;
        while let Some(item) = r.next_item()? {
            n += 1;
            match (f.kind, item) {
                (FileKind::Legacy(_), _) => w.report.legacy_lines += 1,
                (_, Item::Line(l)) => {
                    if n == 1 {
                        if let FileKind::Rotated(first) = f.kind {
                            if line::chain_fields(&l).map(|c| c.seq) != Some(first) {
                                w.fail(
                                    &f.name,
                                    1,
                                    Some(first),
                                    "first line is not the one the file name says",
                                );
                            }
                        }
                    }
                    w.check_line(&f.name, n, &l);
                }
                (_, Item::TooLong(len)) => {
                    w.fail(&f.name, n, None, format!("a line of {len} bytes"));
                }
                (kind, Item::Partial(_)) => {
                    if kind == FileKind::Current && i == last_index {
                        w.report.partial_tail = true;
                    } else {
                        w.fail(&f.name, n, None, "ends in a partial line");
                    }
                }
            }
            if w.report.broken.is_some() {
                return Ok(w.report);
            }
        }
    }
    for c in checkpoints {
        if w.report.last_seq.is_none_or(|last| c.seq > last) {
            let cur = files::current_name(svc);
            w.fail(
                &cur,
                0,
                Some(c.seq),
                format!("log ends before checkpointed line {} (cut short)", c.seq),
            );
        }
    }
    Ok(w.report)
}
