//! One running child: how it is spawned, how its stdout reaches the
//! console, how it is signalled and how its exit is collected.
//!
//! Invariants:
//! - The child's stdin is its end of the control channel; init keeps the
//!   other end, close-on-exec, so no other child inherits it.
//! - Children run in their own process group, so a terminal's Ctrl-C
//!   reaches init alone and shutdown happens in order.
//! - A child is signalled only while init has not collected its exit, so
//!   its pid cannot have been reused.
//! - Every stdout line is forwarded before the ready event for it is sent,
//!   so `<svc>: ready` always precedes `init: up <svc>` on the console.

use crate::config::ReapMode;
use crate::console;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A stdout line longer than this is forwarded in pieces (and never
/// matches a marker), so a child cannot make init buffer without bound.
pub const MAX_LINE: usize = 64 * 1024;

/// How long init waits, after a child exited, for the rest of its stdout.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// How long a write on a control channel may block (a child that does not
/// read its control channel must not stall init).
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the supervisor's loop reacts to, besides exits.
#[derive(Debug)]
pub enum Event {
    /// Unit `unit` printed its ready marker during its run `generation`.
    Ready {
        /// The unit.
        unit: usize,
        /// Which run of it.
        generation: u64,
    },
    /// A signal arrived.
    Signal(i32),
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitDesc {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// The kernel reported something else.
    Unknown,
}

impl ExitDesc {
    /// The shell convention: the status, or 128 + the signal.
    pub fn exit_code(self) -> i32 {
        match self {
            ExitDesc::Code(c) => c,
            ExitDesc::Signal(s) => 128 + s,
            ExitDesc::Unknown => 1,
        }
    }

    fn from_status(st: std::process::ExitStatus) -> ExitDesc {
        match (st.code(), st.signal()) {
            (Some(c), _) => ExitDesc::Code(c),
            (None, Some(s)) => ExitDesc::Signal(s),
            (None, None) => ExitDesc::Unknown,
        }
    }

    fn from_pid1(e: pid1::ChildExit) -> ExitDesc {
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        match e {
            pid1::ChildExit::Exited(c) => ExitDesc::Code(int(c)),
            pid1::ChildExit::Signaled(s) => ExitDesc::Signal(int(s)),
            pid1::ChildExit::Other => ExitDesc::Unknown,
        }
    }
}

impl fmt::Display for ExitDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitDesc::Code(c) => write!(f, "status exit {c}"),
            ExitDesc::Signal(s) => write!(f, "status signal {s}"),
            ExitDesc::Unknown => f.write_str("status unknown"),
        }
    }
}

/// A running child.
pub struct Proc {
    child: Child,
    pid: rustix::process::Pid,
    /// Init's end of the control channel.
    pub control: UnixStream,
    reader: Option<JoinHandle<()>>,
    /// Which run of the unit this is.
    pub generation: u64,
    /// Whether it printed its ready marker (and passed the checks).
    pub ready: bool,
    /// When it must be ready (or, for an app, done) by; `None` once
    /// handled.
    pub deadline: Option<Instant>,
}

/// What to start.
pub struct Launch<'a> {
    /// The unit's index (reported back in events).
    pub unit: usize,
    /// Which run this is.
    pub generation: u64,
    /// The executable.
    pub binary: &'a Path,
    /// The common flags, then the entry's own arguments.
    pub args: Vec<OsString>,
    /// The ready marker to watch for (`None` for apps).
    pub marker: Option<String>,
    /// Where ready events go.
    pub events: Sender<Event>,
}

/// Spawn a child with a fresh control channel on its stdin and its stdout
/// forwarded to the console.
pub fn spawn(l: Launch<'_>) -> io::Result<Proc> {
    let (ours, theirs) = UnixStream::pair()?;
    ours.set_write_timeout(Some(CONTROL_WRITE_TIMEOUT))?;
    let mut child = Command::new(l.binary)
        .args(&l.args)
        .env_remove(crate::notify::NOTIFY_ENV)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()?;
    let pid = rustix::process::Pid::from_child(&child);
    let reader = match child.stdout.take() {
        Some(out) => {
            let (unit, generation, events, marker) = (l.unit, l.generation, l.events, l.marker);
            let spawned = std::thread::Builder::new()
                .name("init-stdout".into())
                .spawn(move || forward(out, marker.as_deref(), unit, generation, &events));
            match spawned {
                Ok(h) => Some(h),
                Err(e) => {
                    // Without a reader the child's stdout fills and it stalls:
                    // better not to run it at all.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
        }
        None => None,
    };
    Ok(Proc {
        child,
        pid,
        control: ours,
        reader,
        generation: l.generation,
        ready: false,
        deadline: None,
    })
}

/// Whether `line` is `marker`, or `marker` followed by a ` (…)` mode
/// suffix such as ` (volatile)`.
pub fn is_ready_line(marker: &str, line: &[u8]) -> bool {
    match line.strip_prefix(marker.as_bytes()) {
        Some([]) => true,
        Some(rest) => rest.starts_with(b" (") && rest.ends_with(b")"),
        None => false,
    }
}

fn forward(
    out: ChildStdout,
    marker: Option<&str>,
    unit: usize,
    generation: u64,
    events: &Sender<Event>,
) {
    let mut reader = BufReader::new(out);
    let mut line = Vec::new();
    let mut announced = false;
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        console::forward(body);
        if !announced && marker.is_some_and(|m| is_ready_line(m, body)) {
            announced = true;
            let _ = events.send(Event::Ready { unit, generation });
        }
    }
}

impl Proc {
    /// Send `sig`; a child that is already gone (but not yet collected) is
    /// not an error.
    pub fn signal(&self, sig: rustix::process::Signal) {
        match rustix::process::kill_process(self.pid, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => eprintln!(
                "nexus-init: cannot signal pid {}: {e}",
                self.pid.as_raw_nonzero()
            ),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw_nonzero().get()
    }

    /// Collect its exit if it has ended (own-children mode only).
    fn try_collect(&mut self) -> Option<ExitDesc> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(ExitDesc::from_status(st)),
            Ok(None) => None,
            Err(e) => {
                eprintln!("nexus-init: wait for pid {} failed: {e}", self.pid());
                Some(ExitDesc::Unknown)
            }
        }
    }

    /// After its exit: give the stdout reader a bounded moment to forward
    /// the last lines, so they precede whatever init prints about the exit.
    /// (A grandchild still holding the pipe must not stall init.)
    pub fn drain(&mut self) {
        let Some(h) = self.reader.take() else { return };
        let until = Instant::now() + DRAIN_WAIT;
        while !h.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
}

/// Collect exits: `procs` are the running children by unit index.
pub fn reap<'a>(
    mode: ReapMode,
    procs: impl Iterator<Item = (usize, &'a mut Proc)>,
) -> Vec<(usize, ExitDesc)> {
    match mode {
        ReapMode::Own => procs
            .filter_map(|(i, p)| p.try_collect().map(|st| (i, st)))
            .collect(),
        ReapMode::Pid1 => {
            // PID 1 collects everything, orphans included; exits of our
            // own children are picked out by pid.
            let reaped = match pid1::reap_children() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("nexus-init: reaping failed: {e}");
                    return Vec::new();
                }
            };
            let procs: Vec<(usize, i32)> = procs.map(|(i, p)| (i, p.pid())).collect();
            reaped
                .into_iter()
                .filter_map(|r| {
                    procs
                        .iter()
                        .find(|(_, pid)| *pid == r.pid)
                        .map(|(i, _)| (*i, ExitDesc::from_pid1(r.exit)))
                })
                .collect()
        }
    }
}
