//! Running the shipped stack for a test: the real `nexus-init` with the
//! repository's manifest, policy and trust directory over a fresh state
//! directory, supervising the real daemons.
//!
//! Binaries: nexus-init and the daemons are binaries of other packages,
//! which cargo does not expose to this one (`CARGO_BIN_EXE_*` covers only
//! a package's own). They are taken from `$NEXUS_STACK_BIN_DIR` if set,
//! else from the target profile directory this test runs from (the parent
//! of `deps/`, e.g. `target/debug`). nexus-init resolves the manifest's
//! binaries next to its own executable, so all of them must be there.
//! `cargo test --workspace` builds them before it runs any test: cargo
//! builds the bin targets of each selected package that has an
//! integration test, and each of these seven packages has one (a package
//! without one, like selftest-client, gets no binary from `cargo test`;
//! see the `compiler-artifact` lines of `cargo test -p <pkgs> --no-run
//! --message-format=json`). `cargo test -p stack_e2e` alone builds none
//! of them, and may run binaries older than the sources: build them
//! first with `cargo build --bins`.
//!
//! Invariants: every wait is bounded; init's stdout and stderr are kept
//! and printed if the test fails; on drop, an init still running is
//! killed with every daemon it started (found by parent pid, checked by
//! start time).

use crate::procs::{self, ProcInfo};
use rustix::process::{kill_process, Pid, Signal};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the whole stack may take to come up (`init: ready`).
pub const BOOT_WAIT: Duration = Duration::from_secs(60);
/// How long any other single step may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// The daemons of the shipped manifest (`config/init.toml`).
pub const DAEMONS: [&str; 6] = [
    "keymintd",
    "keystored",
    "identityd",
    "attestd",
    "bundlemgrd",
    "updated",
];

/// The repository root (this package is `tests/stack_e2e`).
pub fn repo() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
}

/// The directory holding nexus-init and the daemons; fails the test with
/// what to do if one of them is missing.
pub fn bin_dir() -> PathBuf {
    let dir = match std::env::var_os("NEXUS_STACK_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().unwrap();
            // target/<profile>/deps/stack-<hash> -> target/<profile>
            exe.parent().and_then(Path::parent).unwrap().to_path_buf()
        }
    };
    let missing: Vec<&str> = std::iter::once("nexus-init")
        .chain(DAEMONS)
        .filter(|b| !dir.join(b).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "missing from {}: {}. Build the workspace's binaries first with \
         `cargo build --bins` (or run `cargo test --workspace`, which builds them), \
         or set NEXUS_STACK_BIN_DIR to a directory holding them",
        dir.display(),
        missing.join(", ")
    );
    dir
}

/// `r`, or fail the test saying what was being done.
pub fn must<T, E: Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Send `sig` to process `pid`.
pub fn signal(pid: u32, sig: Signal) {
    let raw = i32::try_from(pid).unwrap();
    let pid = Pid::from_raw(raw).unwrap();
    must(kill_process(pid, sig), "kill");
}

/// Keep every line of `from` in `all`, and pass each to `tx` if given,
/// with the time it was read.
fn collect_lines(
    from: impl Read + Send + 'static,
    all: Arc<Mutex<Vec<String>>>,
    tx: Option<mpsc::Sender<(Instant, String)>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            all.lock().unwrap().push(line.clone());
            if let Some(tx) = &tx {
                // The test may have stopped listening; keep collecting.
                let _ = tx.send((Instant::now(), line));
            }
        }
    });
}

/// A running nexus-init with the shipped manifest.
pub struct Stack {
    child: Child,
    pid: u32,
    bins: PathBuf,
    lines: Receiver<(Instant, String)>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Holds the state directory (and the policy copy) until the end, or
    /// until [`Stack::stop`] hands it back.
    dir: Option<tempfile::TempDir>,
    run_dir: PathBuf,
}

impl Stack {
    /// Start `nexus-init --config <repo>/config/init.toml --state <tmp>/state
    /// --policy <policy> --trust-dir <repo>/config/trust`. The policy is the
    /// shipped one, which maps uid 0 to `system:admin`; run as another uid,
    /// a copy with that uid also mapped to `system:admin` is used instead.
    pub fn start() -> Stack {
        Stack::start_with(&repo().join("config/init.toml"))
    }

    /// [`Stack::start`] with another manifest.
    pub fn start_with(manifest: &Path) -> Stack {
        Stack::start_custom(
            must(tempfile::tempdir(), "temporary directory"),
            manifest,
            None,
            None,
        )
    }

    /// [`Stack::start`] over `dir` (its `state/` kept from an earlier run,
    /// or put there by the test).
    pub fn start_in(dir: tempfile::TempDir) -> Stack {
        Stack::start_custom(dir, &repo().join("config/init.toml"), None, None)
    }

    /// [`Stack::start`] in `dir` (state in `dir/state`) with another
    /// manifest, policy file (default: the shipped one) and run directory
    /// (`--run`; default: `<state>/run`).
    pub fn start_custom(
        dir: tempfile::TempDir,
        manifest: &Path,
        policy: Option<PathBuf>,
        run: Option<PathBuf>,
    ) -> Stack {
        let bins = bin_dir();
        let repo = repo();
        let shipped = repo.join("config/policy.toml");
        let uid = rustix::process::getuid().as_raw();
        let policy = if let Some(p) = policy {
            p
        } else if uid == 0 {
            shipped
        } else {
            let text = must(std::fs::read_to_string(&shipped), "read policy");
            let copy = dir.path().join("policy.toml");
            let extra = format!("\n[[uid_map]]\nuid = {uid}\nsubject = \"system:admin\"\n");
            must(std::fs::write(&copy, text + &extra), "write policy");
            copy
        };
        let run_dir = run.unwrap_or_else(|| dir.path().join("state/run"));
        let mut child = must(
            Command::new(bins.join("nexus-init"))
                .arg("--run")
                .arg(&run_dir)
                .arg("--config")
                .arg(manifest)
                .arg("--state")
                .arg(dir.path().join("state"))
                .arg("--policy")
                .arg(&policy)
                .arg("--trust-dir")
                .arg(repo.join("config/trust"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn(),
            "spawn nexus-init",
        );
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().unwrap(), stdout.clone(), Some(tx));
        collect_lines(child.stderr.take().unwrap(), stderr.clone(), None);
        Stack {
            pid: child.id(),
            child,
            bins,
            lines,
            stdout,
            stderr,
            dir: Some(dir),
            run_dir,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().map(tempfile::TempDir::path).unwrap()
    }

    /// The run directory with the public sockets.
    pub fn run_dir(&self) -> PathBuf {
        self.run_dir.clone()
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir().join("state")
    }

    /// Wait for `init: ready`.
    pub fn ready(&self) {
        self.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    }

    /// Stop init with SIGTERM (it stops every daemon cleanly) and keep the
    /// directory for another run.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.signal(Signal::Term);
        let st = self.wait_exit(WAIT);
        assert!(st.success(), "init exited with {st}: {}", self.dump());
        self.dir.take().unwrap()
    }

    /// Every line init has written on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Every line init (and the daemons, whose stderr is init's) has
    /// written on stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait at most `within` for the next stdout line matching `want`
    /// (lines before it are skipped, but kept for [`Stack::stdout`]);
    /// returns it and when it was read.
    pub fn expect(
        &self,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> (String, Instant) {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if want(&line) => return (line, at),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no {what:?} within {within:?}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("init's stdout ended before {what:?}")
                }
            }
        }
    }

    /// The daemons this init runs now, by name; fails unless it runs
    /// exactly one process of each daemon of the manifest and nothing else.
    pub fn daemons(&self) -> BTreeMap<&'static str, ProcInfo> {
        let children = procs::children_of(self.pid);
        let mut found = BTreeMap::new();
        for name in DAEMONS {
            let bin = self.bins.join(name);
            let mut of: Vec<&ProcInfo> = children.iter().filter(|p| p.argv0 == bin).collect();
            assert_eq!(of.len(), 1, "processes of {name} under init: {children:#?}");
            found.insert(name, of.remove(0).clone());
        }
        assert_eq!(
            children.len(),
            DAEMONS.len(),
            "init's children: {children:#?}"
        );
        found
    }

    /// The running process of daemon `name` under this init, if there is
    /// one now (none while init waits out its restart delay).
    pub fn daemon(&self, name: &str) -> Option<ProcInfo> {
        let bin = self.bins.join(name);
        procs::children_of(self.pid)
            .into_iter()
            .find(|p| p.argv0 == bin)
    }

    /// init's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `init.status` from init's socket, `<run>/init.sock`.
    pub fn init_status(&self) -> wire::Value {
        let sock = self.run_dir().join("init.sock");
        let mut c = must(wire::Client::connect(&sock), "connect to init.sock");
        must(c.call("init.status", &wire::Args::new()), "init.status")
    }

    /// The state `init.status` gives daemon `name`.
    pub fn state_of(&self, name: &str) -> String {
        let status = self.init_status();
        let services = status
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("services")))
            .and_then(|(_, v)| v.as_array())
            .expect("services in init.status");
        services
            .iter()
            .filter_map(|s| {
                let a = wire::Args::from_value(s.clone()).ok()?;
                (a.text("name").ok()? == name).then(|| a.text("state").map(str::to_owned).ok())?
            })
            .next()
            .unwrap_or_else(|| panic!("{name} not in init.status"))
    }

    /// Send `sig` to init.
    pub fn signal(&self, sig: Signal) {
        signal(self.pid, sig);
    }

    /// Wait at most `within` for init to exit; then collect the rest of
    /// its output (at most 2 s more).
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        let status = loop {
            if let Some(st) = must(self.child.try_wait(), "wait for init") {
                break st;
            }
            assert!(
                Instant::now() < until,
                "init did not exit within {within:?}"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let until = Instant::now() + Duration::from_secs(2);
        while self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .is_ok()
        {}
        status
    }

    /// Everything init printed, for a failure report.
    fn dump(&self) -> String {
        format!(
            "--- nexus-init stdout ---\n{}\n--- nexus-init stderr ---\n{}\n---",
            self.stdout().join("\n"),
            self.stderr().join("\n")
        )
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.dump());
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            // A failed test must leave nothing running. The daemons would
            // exit once init's end of their control channel closes; kill
            // them anyway, by pid, so a hung one cannot linger.
            let children = procs::children_of(self.pid);
            let _ = self.child.kill();
            let _ = self.child.wait();
            for p in children.iter().filter(|p| procs::still_running(p)) {
                if let Some(pid) = i32::try_from(p.pid).ok().and_then(Pid::from_raw) {
                    let _ = kill_process(pid, Signal::Kill);
                }
            }
        }
    }
}
