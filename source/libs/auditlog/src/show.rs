//! Reading audit lines for people: filters, a text form, and following
//! logs as they grow (and rotate).
//!
//! Lines that do not parse are skipped here (`verify` is the tool that
//! reports them); old-format files are read as they are, without chain
//! fields.

use crate::files::{self, Item, LineReader};
use crate::line::{self, Parsed};
use crate::AuditError;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Which lines to show; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this service's logs.
    pub service: Option<String>,
    /// `subject` equals this.
    pub subject: Option<String>,
    /// `capability` equals this, or, for a state line, `state.<kind>`
    /// (`state.write`, `state.delete`…) does.
    pub op: Option<String>,
    /// `decision` equals this (`allow`, `deny`).
    pub decision: Option<String>,
    /// `time` at or after this (Unix seconds).
    pub since: Option<u64>,
    /// `time` before this (Unix seconds).
    pub until: Option<u64>,
}

/// One line shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Whose log it is in.
    pub service: String,
    /// Its fields (chain fields as `seq: None` for old-format lines).
    pub seq: Option<u64>,
    /// The line's JSON object.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The line as written, without its newline.
    pub raw: String,
}

impl Entry {
    fn text(&self, k: &str) -> Option<&str> {
        self.fields.get(k).and_then(serde_json::Value::as_str)
    }

    /// The `time` field, 0 if absent.
    pub fn time(&self) -> u64 {
        self.fields
            .get("time")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }

    /// The op: `capability`, or `state.<kind>` for a state line.
    pub fn op(&self) -> Option<String> {
        if let Some(c) = self.text("capability") {
            return Some(c.to_owned());
        }
        self.text("state").map(|k| format!("state.{k}"))
    }

    /// One line of text: time, service, seq, then what happened.
    pub fn to_text(&self) -> String {
        let when = rfc3339(self.time());
        let seq = self.seq.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let what = if let Some(d) = self.text("decision") {
            format!(
                "{d} {} {} {} ({})",
                self.text("subject").unwrap_or("?"),
                self.text("capability").unwrap_or("?"),
                self.text("target").unwrap_or("?"),
                self.text("reason").unwrap_or("?")
            )
        } else if let Some(k) = self.text("state") {
            let gen = self
                .fields
                .get("gen")
                .and_then(serde_json::Value::as_u64)
                .map_or_else(String::new, |g| format!(" gen {g}"));
            format!("state {k} {}{gen}", self.text("path").unwrap_or(""))
        } else if self.text("chain") == Some("start") {
            "chain start".to_owned()
        } else {
            self.raw.clone()
        };
        format!("{when} {} #{seq} {what}", self.service)
    }
}

impl Filter {
    /// Whether `e` passes.
    pub fn matches(&self, e: &Entry) -> bool {
        let eq = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        eq(&self.service, Some(&e.service))
            && eq(&self.subject, e.text("subject"))
            && eq(&self.decision, e.text("decision"))
            && self
                .op
                .as_deref()
                .is_none_or(|w| e.op().as_deref() == Some(w))
            && self.since.is_none_or(|s| e.time() >= s)
            && self.until.is_none_or(|u| e.time() < u)
    }
}

fn entry(service: &str, l: &[u8]) -> Option<Entry> {
    let raw = std::str::from_utf8(l.strip_suffix(b"\n").unwrap_or(l))
        .ok()?
        .to_owned();
    let (seq, fields) = match line::parse(l) {
        Ok(Parsed { chain, fields }) => (Some(chain.seq), fields),
        Err(_) => match serde_json::from_str::<serde_json::Value>(&raw).ok()? {
            serde_json::Value::Object(m) => (None, m),
            _ => return None,
        },
    };
    Some(Entry {
        service: service.to_owned(),
        seq,
        fields,
        raw,
    })
}

fn services(dir: &Path, filter: &Filter) -> Result<Vec<String>, AuditError> {
    Ok(match &filter.service {
        Some(s) => vec![s.clone()],
        None => files::services(dir)?,
    })
}

/// Every matching line in `dir`'s logs, ordered by time, then service,
/// then seq.
pub fn collect(dir: &Path, filter: &Filter) -> Result<Vec<Entry>, AuditError> {
    let mut out = Vec::new();
    for svc in services(dir, filter)? {
        for f in files::list(dir, &svc)? {
            let mut r = LineReader::new(files::open_log(&f.path)?);
            while let Some(item) = r.next_item()? {
                if let Item::Line(l) = item {
                    if let Some(e) = entry(&svc, &l).filter(|e| filter.matches(e)) {
                        out.push(e);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (a.time(), &a.service, a.seq).cmp(&(b.time(), &b.service, b.seq)));
    Ok(out)
}

struct Followed {
    service: String,
    dir: PathBuf,
    path: PathBuf,
    file: Option<File>,
    pending: Vec<u8>,
    last_seq: Option<u64>,
}

impl Followed {
    fn take(&mut self, l: &[u8], filter: &Filter, out: &mut Vec<Entry>) {
        let Some(e) = entry(&self.service, l) else {
            return;
        };
        if let (Some(seq), Some(last)) = (e.seq, self.last_seq) {
            if seq <= last {
                return;
            }
        }
        if e.seq.is_some() {
            self.last_seq = e.seq;
        }
        if filter.matches(&e) {
            out.push(e);
        }
    }

    fn read_handle(&mut self, filter: &Filter, out: &mut Vec<Entry>) -> Result<(), AuditError> {
        use std::io::Read;
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.pending.extend_from_slice(&buf);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let l: Vec<u8> = self.pending.drain(..=i).collect();
            self.take(&l, filter, out);
        }
        Ok(())
    }

    /// After rotations: every line past the last one seen, from the rotated
    /// files and the new current file, which is then followed.
    fn catch_up(&mut self, filter: &Filter, out: &mut Vec<Entry>) -> Result<(), AuditError> {
        self.pending.clear();
        self.file = None;
        for f in files::list(&self.dir, &self.service)? {
            let mut r = LineReader::new(files::open_log(&f.path)?);
            while let Some(item) = r.next_item()? {
                if let Item::Line(l) = item {
                    self.take(&l, filter, out);
                }
            }
        }
        let mut cur = files::open_log(&self.path)?;
        use std::io::Seek;
        cur.seek(std::io::SeekFrom::End(0))?;
        self.file = Some(cur);
        Ok(())
    }
}

/// Follows the current files of `dir`'s logs from their end, across
/// rotations: [`Follower::poll`] returns the lines written since.
pub struct Follower {
    filter: Filter,
    logs: Vec<Followed>,
}

impl Follower {
    /// Start at the end of every current log that `filter` selects.
    pub fn new(dir: &Path, filter: Filter) -> Result<Follower, AuditError> {
        let mut logs = Vec::new();
        for svc in services(dir, &filter)? {
            let path = dir.join(files::current_name(&svc));
            let mut log = Followed {
                service: svc,
                dir: dir.to_path_buf(),
                path,
                file: None,
                pending: Vec::new(),
                last_seq: None,
            };
            let mut seen = Vec::new();
            log.catch_up(&Filter::default(), &mut seen)?;
            logs.push(log);
        }
        Ok(Follower { filter, logs })
    }

    /// The matching lines written since the last poll.
    pub fn poll(&mut self) -> Result<Vec<Entry>, AuditError> {
        let mut out = Vec::new();
        for log in &mut self.logs {
            log.read_handle(&self.filter, &mut out)?;
            // Rotated away? The handle has read the renamed file to its
            // end; pick up any further rotated files and the new current.
            let now = std::fs::symlink_metadata(&log.path).ok().map(|m| m.ino());
            let ours = log
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map(|m| m.ino());
            if now.is_some() && now != ours {
                log.catch_up(&self.filter, &mut out)?;
            }
        }
        Ok(out)
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
