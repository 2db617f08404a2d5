//! Processes as /proc shows them: who a process's parent is, which binary
//! it was started from, and whether it is still the same process.
//!
//! Invariant: a process is identified by its pid *and* its start time, so
//! a pid reused by an unrelated process is never mistaken for a daemon
//! that is still running.

use std::fs;
use std::path::PathBuf;

/// One process, as read from `/proc/<pid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Start time after boot, in clock ticks (field 22 of `stat`).
    pub start: u64,
    /// The first word of its command line (the binary it was started as).
    pub argv0: PathBuf,
    /// The state letter of `stat` (`Z` for a zombie).
    pub state: char,
}

impl ProcInfo {
    /// Whether `other` is this very process: same pid, parent, start time
    /// and binary. The state letter is not compared: it changes from one
    /// sample to the next (`S` while waiting, `R` while on a CPU).
    pub fn same_process(&self, other: &ProcInfo) -> bool {
        (self.pid, self.ppid, self.start, &self.argv0)
            == (other.pid, other.ppid, other.start, &other.argv0)
    }
}

/// `/proc/<pid>`, if such a process exists.
pub fn read(pid: u32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: the fields
    // proper start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    // Field 22 of stat; `fields[0]` is field 3.
    let start = fields.get(19)?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    Some(ProcInfo {
        pid,
        ppid,
        start,
        argv0: PathBuf::from(String::from_utf8_lossy(argv0).into_owned()),
        state,
    })
}

/// Every live (non-zombie) process whose parent is `ppid`.
pub fn children_of(ppid: u32) -> Vec<ProcInfo> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<ProcInfo> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read)
        .filter(|p| p.ppid == ppid && p.state != 'Z')
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// Whether the very process `p` (same pid, same start time) still runs.
/// A zombie leader counts as not running, but see [`reaped`]: its other
/// threads may still be exiting and holding its sockets open.
pub fn still_running(p: &ProcInfo) -> bool {
    read(p.pid).is_some_and(|now| now.start == p.start && now.state != 'Z')
}

/// Whether `p` has been reaped by its parent. Only then is every thread of
/// it gone, and with them its open files: the leader of a killed
/// multi-threaded process shows `Z` while the other threads still exit,
/// and its listening socket can still accept (and then reset) connections.
pub fn reaped(p: &ProcInfo) -> bool {
    read(p.pid).is_none_or(|now| now.start != p.start)
}
