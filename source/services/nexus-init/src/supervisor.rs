//! The supervisor's loop: boot in dependency order, hand out endpoints,
//! wait for readiness, restart what dies, run the selftest app, shut down.
//!
//! One thread owns every child and all state; stdout readers and the
//! signal watcher only send [`Event`]s to it. Exits are collected by
//! polling (woken early by SIGCHLD), so no other thread ever waits on a
//! child.
//!
//! Invariants:
//! - `init: up <svc>` only after the service printed its ready marker in
//!   its current run (and, for a public service, its socket exists);
//!   `init: ready` only after every daemon is up.
//! - An endpoint is handed out only when both ends are running; every
//!   (re)start of either end gets fresh pairs, one per lane of the route,
//!   so a restarted server's clients and a restarted client's servers are
//!   reconnected on every lane.
//! - Every wait is bounded: readiness, the selftest app, each stop.
//! - Shutdown stops apps first, then daemons in reverse start order,
//!   SIGTERM first and SIGKILL after the stop timeout; nothing is
//!   restarted once shutdown has begun.
//! - After every turn of the loop the state of every unit is published
//!   for `init.status` (see [`crate::status`]); init's socket is served
//!   from before the first service starts until after the last stops.

use crate::child::{self, Event, ExitDesc, Launch, Proc};
use crate::config::{Config, Storage};
use crate::console::say;
use crate::error::InitError;
use crate::handout::{self, Peer};
use crate::manifest::{Kind, Service};
use crate::restart::{Decision, Persistence, RestartTracker};
use crate::status::{Board, Snapshot, UnitState, UnitView};
use rustix::process::Signal;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// The longest the loop sleeps without looking at exits and deadlines.
const TICK: Duration = Duration::from_millis(250);
/// How often exits are polled while stopping a child.
const STOP_POLL: Duration = Duration::from_millis(10);
/// How long a child may take to disappear after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(2);

enum State {
    Idle,
    Running(Proc),
    Backoff {
        until: Instant,
        last: ExitDesc,
    },
    Exited(ExitDesc),
    /// Given up on; tried again at `retry`, if any.
    Failed {
        retry: Option<Instant>,
        last: ExitDesc,
    },
}

struct Unit {
    state: State,
    generation: u64,
    tracker: RestartTracker,
    restarts: u32,
    last_exit: Option<ExitDesc>,
}

enum Phase {
    Boot(usize),
    Serving,
    Selftest(usize),
}

/// The runtime directory: `--run DIR`, else `<state>/run`, or a temporary
/// directory (removed at exit) in volatile mode; its mode and group are
/// [`crate::rundir::prepare`]'s.
enum RunDir {
    Given(PathBuf),
    Temp(tempfile::TempDir),
}

impl RunDir {
    fn path(&self) -> &Path {
        match self {
            RunDir::Given(p) => p,
            RunDir::Temp(t) => t.path(),
        }
    }
}

fn run_dir(cfg: &Config) -> Result<RunDir, InitError> {
    if let Storage::Durable(state) = &cfg.storage {
        crate::config::private_dir(state)?;
    }
    let run = match (&cfg.run, &cfg.storage) {
        (Some(dir), _) => RunDir::Given(dir.clone()),
        (None, Storage::Durable(state)) => RunDir::Given(state.join("run")),
        (None, Storage::Volatile) => RunDir::Temp(
            tempfile::Builder::new()
                .prefix("nexus-init-run.")
                .tempdir()
                .map_err(|source| InitError::Dir {
                    path: std::env::temp_dir(),
                    source,
                })?,
        ),
    };
    crate::rundir::prepare(run.path(), cfg.manifest.sockets(), cfg.socket_gid)?;
    Ok(run)
}

/// Run the whole supervision: returns init's exit status (0 after a
/// signal, 1 if boot failed, the app's status with `--selftest`).
pub fn run(cfg: Config) -> Result<i32, InitError> {
    let run_dir = run_dir(&cfg)?;
    let (tx, rx) = mpsc::channel();
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGCHLD]).map_err(InitError::Setup)?;
    let signal_handle = signals.handle();
    let sig_tx = tx.clone();
    std::thread::Builder::new()
        .name("init-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig_tx.send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .map_err(InitError::Setup)?;
    let board = Board::default();
    let status = crate::status::serve(
        &run_dir.path().join("init.sock"),
        &cfg.policy,
        cfg.storage == Storage::Volatile,
        board.clone(),
        (cfg.manifest.sockets().mode, cfg.socket_gid),
    )?;
    // Where `nx` finds the stack, once init's own socket answers there.
    say(&format!("init: run directory {}", run_dir.path().display()));
    crate::console::say(&crate::rundir::export_line(run_dir.path()));
    eprintln!(
        "nexus-init: manifest {}, policy {}, trust {}, {}",
        cfg.manifest_path.display(),
        cfg.policy.display(),
        cfg.trust_dir.display(),
        match &cfg.storage {
            Storage::Durable(d) => format!("state {}", d.display()),
            Storage::Volatile => "volatile (no state directory)".to_owned(),
        }
    );
    let mut sup = Supervisor::new(cfg, run_dir.path(), tx, rx, board);
    sup.notifier = crate::notify::Notifier::from_env();
    let code = sup.supervise();
    sup.shutdown();
    status.shutdown();
    signal_handle.close();
    drop(run_dir);
    Ok(code)
}

struct Supervisor {
    cfg: Config,
    common: Vec<OsString>,
    run_dir: PathBuf,
    units: Vec<Unit>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    stopping: bool,
    /// `init: ready` has been printed: crash loops no longer fail the boot.
    booted: bool,
    board: Board,
    /// systemd's readiness notifications (`Type=notify`), if asked for.
    notifier: crate::notify::Notifier,
}

impl Supervisor {
    fn new(
        cfg: Config,
        run_dir: &Path,
        tx: Sender<Event>,
        rx: Receiver<Event>,
        board: Board,
    ) -> Supervisor {
        let mut common: Vec<OsString> = Vec::new();
        match &cfg.storage {
            Storage::Durable(dir) => common.extend(["--state".into(), dir.into()]),
            Storage::Volatile => common.push("--volatile".into()),
        }
        common.extend([
            "--policy".into(),
            cfg.policy.clone().into(),
            "--run".into(),
            run_dir.into(),
            "--trust-dir".into(),
            cfg.trust_dir.clone().into(),
            "--control-stdin".into(),
        ]);
        let policy = cfg.manifest.restart_policy();
        let units = cfg
            .manifest
            .services()
            .iter()
            .map(|_| Unit {
                state: State::Idle,
                generation: 0,
                tracker: RestartTracker::new(policy),
                restarts: 0,
                last_exit: None,
            })
            .collect();
        Supervisor {
            cfg,
            common,
            run_dir: run_dir.to_path_buf(),
            units,
            tx,
            rx,
            stopping: false,
            booted: false,
            board,
            notifier: crate::notify::Notifier::default(),
        }
    }

    /// Write the state of every unit for `init.status`.
    fn publish(&self) {
        let services = self
            .units
            .iter()
            .zip(self.cfg.manifest.services())
            .map(|(u, s)| {
                let (state, pid) = match &u.state {
                    State::Idle => (UnitState::Idle, None),
                    State::Running(p) if p.ready => (UnitState::Up, Some(p.pid())),
                    State::Running(p) => (UnitState::Starting, Some(p.pid())),
                    State::Backoff { .. } => (UnitState::Restarting, None),
                    State::Exited(_) => (UnitState::Stopped, None),
                    State::Failed { .. } => (UnitState::Failed, None),
                };
                UnitView {
                    name: s.name().to_owned(),
                    kind: s.kind(),
                    core: s.core(),
                    state,
                    restarts: u.restarts,
                    last_exit: u.last_exit,
                    pid,
                }
            })
            .collect();
        let snap = Snapshot {
            ready: self.booted,
            services,
        };
        *self
            .board
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snap;
    }

    fn svc(&self, i: usize) -> &Service {
        &self.cfg.manifest.services()[i]
    }

    fn supervise(&mut self) -> i32 {
        let mut phase = Phase::Boot(0);
        loop {
            let ended = self.advance(&mut phase);
            self.publish();
            if let Some(code) = ended {
                return code;
            }
            let now = Instant::now();
            let wait = self
                .next_deadline()
                .map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
            match self.rx.recv_timeout(wait) {
                Ok(Event::Ready { unit, generation }) => self.on_ready(unit, generation),
                Ok(Event::Signal(sig)) if sig == SIGTERM || sig == SIGINT => {
                    let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                    say(&format!("init: {name}, shutting down"));
                    return 0;
                }
                Ok(Event::Signal(_)) | Err(RecvTimeoutError::Timeout) => {}
                // Impossible while `self.tx` lives; nothing to do if it were.
                Err(RecvTimeoutError::Disconnected) => {}
            }
            for (i, st) in self.reap() {
                self.on_exit(i, st);
            }
            self.check_deadlines(Instant::now());
        }
    }

    /// Move the phase on as far as it can go now; `Some(code)` ends the run.
    fn advance(&mut self, phase: &mut Phase) -> Option<i32> {
        loop {
            match *phase {
                Phase::Boot(pos) => {
                    let Some(&i) = self.cfg.manifest.start_order().get(pos) else {
                        // init.status says ready before the console does.
                        self.booted = true;
                        self.publish();
                        say("init: ready");
                        self.notifier.notify(&format!(
                            "READY=1\nSTATUS=serving; run directory {}",
                            self.run_dir.display()
                        ));
                        *phase = match self.cfg.selftest {
                            Some((app, _)) => {
                                self.start(app, None);
                                Phase::Selftest(app)
                            }
                            None => Phase::Serving,
                        };
                        continue;
                    };
                    match &self.units[i].state {
                        State::Idle => self.start(i, None),
                        State::Running(p) if p.ready => *phase = Phase::Boot(pos + 1),
                        State::Exited(_) | State::Failed { .. } => {
                            say(&format!(
                                "init: boot failed: {} did not come up",
                                self.svc(i).name()
                            ));
                            return Some(1);
                        }
                        State::Running(_) | State::Backoff { .. } => return None,
                    }
                }
                Phase::Selftest(app) => {
                    return match &self.units[app].state {
                        State::Exited(st) => {
                            let code = st.exit_code();
                            say(&format!("init: selftest exit {code}"));
                            Some(code)
                        }
                        State::Failed { .. } => {
                            say("init: selftest exit 1 (the app could not be started)");
                            Some(1)
                        }
                        _ => None,
                    }
                }
                Phase::Serving => return None,
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.units
            .iter()
            .filter_map(|u| match &u.state {
                State::Running(p) => p.deadline,
                State::Backoff { until, .. } => Some(*until),
                State::Failed { retry, .. } => *retry,
                _ => None,
            })
            .min()
    }

    fn start(&mut self, i: usize, restarted_after: Option<ExitDesc>) {
        let name = self.svc(i).name().to_owned();
        match restarted_after {
            None => say(&format!("init: start {name}")),
            Some(st) => {
                self.units[i].restarts = self.units[i].restarts.saturating_add(1);
                say(&format!("init: restart {name} ({st})"));
            }
        }
        let svc = self.svc(i);
        let mut args = self.common.clone();
        if svc.public_socket() {
            let sockets = self.cfg.manifest.sockets();
            args.extend([
                "--socket-mode".into(),
                format!("{:04o}", sockets.mode).into(),
            ]);
            if let Some(gid) = self.cfg.socket_gid {
                args.extend(["--socket-group".into(), gid.to_string().into()]);
            }
        }
        args.extend(svc.args().iter().map(OsString::from));
        let (marker, limit) = match svc.kind() {
            Kind::Daemon => (Some(svc.ready_marker().to_owned()), svc.ready_timeout()),
            Kind::App => (None, self.cfg.selftest.map_or(TICK, |(_, t)| t)),
        };
        let unit = &mut self.units[i];
        unit.generation += 1;
        let launched = child::spawn(Launch {
            unit: i,
            generation: unit.generation,
            binary: &self.cfg.binaries[i],
            args,
            marker,
            events: self.tx.clone(),
        });
        match launched {
            Ok(mut p) => {
                p.deadline = Some(Instant::now() + limit);
                unit.state = State::Running(p);
                self.hand_out(i);
            }
            Err(e) => {
                say(&format!("init: failed {name} (cannot start: {e})"));
                unit.state = State::Failed {
                    retry: None,
                    last: ExitDesc::Unknown,
                };
                if self.booted && self.svc(i).kind() == Kind::Daemon {
                    // After boot a failed spawn is one more death: retried
                    // by the restart policy like any other.
                    self.units[i].state = self.after_death(i, ExitDesc::Unknown);
                }
            }
        }
    }

    /// Give `i` fresh endpoints (one per lane) for every route to or from a
    /// running peer.
    fn hand_out(&self, i: usize) {
        for r in self.cfg.manifest.routes() {
            if r.client != i && r.server != i {
                continue;
            }
            let (State::Running(s), State::Running(c)) =
                (&self.units[r.server].state, &self.units[r.client].state)
            else {
                continue;
            };
            let (ss, cs) = (self.svc(r.server), self.svc(r.client));
            let server = Peer {
                control: &s.control,
                name: ss.name(),
                subject: ss.subject(),
            };
            let client = Peer {
                control: &c.control,
                name: cs.name(),
                subject: cs.subject(),
            };
            if let Err(e) = handout::connect(&server, &client, r.lanes) {
                // The receiving child is dying or not reading; its restart
                // (or its peer's) re-issues the endpoint.
                eprintln!(
                    "nexus-init: endpoint {} -> {} not handed out: {e}",
                    cs.name(),
                    ss.name()
                );
            }
        }
    }

    fn on_ready(&mut self, i: usize, generation: u64) {
        let svc = &self.cfg.manifest.services()[i];
        let State::Running(p) = &mut self.units[i].state else {
            return;
        };
        if p.generation != generation || p.ready {
            return;
        }
        if svc.public_socket() {
            let sock = self.run_dir.join(format!("{}.sock", svc.name()));
            let is_socket =
                std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_socket());
            if !is_socket {
                eprintln!(
                    "nexus-init: {} printed its ready marker but {} is not a socket; killing it",
                    svc.name(),
                    sock.display()
                );
                p.signal(Signal::Kill);
                p.deadline = None;
                return;
            }
        }
        p.ready = true;
        p.deadline = None;
        let name = svc.name().to_owned();
        self.publish();
        say(&format!("init: up {name}"));
    }

    fn reap(&mut self) -> Vec<(usize, ExitDesc)> {
        let procs = self
            .units
            .iter_mut()
            .enumerate()
            .filter_map(|(i, u)| match &mut u.state {
                State::Running(p) => Some((i, p)),
                _ => None,
            });
        child::reap(self.cfg.reap, procs)
    }

    fn on_exit(&mut self, i: usize, st: ExitDesc) {
        let svc = &self.cfg.manifest.services()[i];
        let unit = &mut self.units[i];
        if let State::Running(p) = &mut unit.state {
            p.drain();
        }
        unit.last_exit = Some(st);
        let next = if self.stopping || svc.kind() == Kind::App {
            State::Exited(st)
        } else if !svc.restart() {
            say(&format!("init: exit {} ({st}); not restarted", svc.name()));
            State::Exited(st)
        } else {
            self.after_death(i, st)
        };
        self.units[i].state = next;
    }

    /// The restart policy's answer for daemon `i`, which died with `st`.
    fn after_death(&mut self, i: usize, st: ExitDesc) -> State {
        let svc = &self.cfg.manifest.services()[i];
        let persistence = if !self.booted {
            Persistence::Boot
        } else if svc.core() {
            Persistence::Core
        } else {
            Persistence::Other
        };
        let now = Instant::now();
        match self.units[i].tracker.on_exit(now, persistence) {
            Decision::RestartAfter(delay) => {
                eprintln!(
                    "nexus-init: {} ended ({st}); restarting in {} ms",
                    svc.name(),
                    delay.as_millis()
                );
                State::Backoff {
                    until: now + delay,
                    last: st,
                }
            }
            Decision::Failed { restarts, retry } => {
                let again = retry.map_or(String::new(), |d| {
                    format!("; trying again in {} s", d.as_secs())
                });
                say(&format!(
                    "init: failed {} ({st}; {restarts} restarts within the last minute{again})",
                    svc.name()
                ));
                State::Failed {
                    retry: retry.map(|d| now + d),
                    last: st,
                }
            }
        }
    }

    fn check_deadlines(&mut self, now: Instant) {
        for i in 0..self.units.len() {
            match &mut self.units[i].state {
                State::Backoff { until, last } if *until <= now => {
                    let last = *last;
                    self.start(i, Some(last));
                }
                State::Failed {
                    retry: Some(at),
                    last,
                } if *at <= now && !self.stopping => {
                    let last = *last;
                    self.start(i, Some(last));
                }
                State::Running(p) if p.deadline.is_some_and(|d| d <= now) => {
                    p.deadline = None;
                    let svc = &self.cfg.manifest.services()[i];
                    match svc.kind() {
                        Kind::Daemon => eprintln!(
                            "nexus-init: {} not ready within {} s; killing it",
                            svc.name(),
                            svc.ready_timeout().as_secs()
                        ),
                        Kind::App => say(&format!("init: {} timed out; killing it", svc.name())),
                    }
                    p.signal(Signal::Kill);
                }
                _ => {}
            }
        }
    }

    /// Stop everything: apps first, then daemons in reverse start order.
    fn shutdown(&mut self) {
        self.stopping = true;
        say("init: shutdown");
        self.notifier.notify("STOPPING=1");
        let apps = (0..self.units.len()).filter(|&i| self.svc(i).kind() == Kind::App);
        let mut order: Vec<usize> = apps.collect();
        order.extend(self.cfg.manifest.start_order().iter().rev());
        for i in order {
            self.stop(i);
            self.publish();
        }
        say("init: stopped");
    }

    fn stop(&mut self, i: usize) {
        match &self.units[i].state {
            State::Running(p) => p.signal(Signal::Term),
            State::Backoff { .. } | State::Failed { .. } => {
                self.units[i].state = State::Idle;
                return;
            }
            _ => return,
        }
        if !self.wait_exit(i, self.cfg.stop_timeout) {
            eprintln!(
                "nexus-init: {} did not stop within {} s; killing it",
                self.svc(i).name(),
                self.cfg.stop_timeout.as_secs()
            );
            if let State::Running(p) = &self.units[i].state {
                p.signal(Signal::Kill);
            }
            if !self.wait_exit(i, KILL_WAIT) {
                eprintln!("nexus-init: {} survived SIGKILL", self.svc(i).name());
            }
        }
    }

    /// Poll until unit `i` has exited (collecting any other exits on the
    /// way), at most `limit`.
    fn wait_exit(&mut self, i: usize, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            for (j, st) in self.reap() {
                self.on_exit(j, st);
            }
            if !matches!(self.units[i].state, State::Running(_)) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(STOP_POLL);
        }
    }
}
