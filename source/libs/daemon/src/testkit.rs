//! The supervisor's side of the process contract, for tests (feature
//! `testkit`, never in a shipped build).
//!
//! [`Proc`] runs a real daemon binary as nexus-init does: a control channel
//! on stdin (`--control-stdin`), endpoints handed over with
//! `wire::handoff`, stdout read as marker lines and stderr collected. Every
//! wait is bounded by [`WAIT`]; a process still running when its `Proc` is
//! dropped is killed, so a failing test leaves nothing behind.
//!
//! A failure here is a test failure: functions panic with what went wrong
//! (and the daemon's output) instead of returning errors.
#![allow(clippy::panic)]

use nexus_core::{ErrorCode, Subject};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use wire::handoff::send_endpoint;
use wire::{Client, ClientError, Value};

/// The longest any wait of this module takes before it fails the test.
pub const WAIT: Duration = Duration::from_secs(20);

/// A daemon process with its control channel and its output.
pub struct Proc {
    child: Child,
    control: Option<UnixStream>,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Proc {
    /// Start `bin args… --control-stdin`; does not wait for anything.
    pub fn spawn<I, S>(bin: &Path, args: I) -> Proc
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (supervisor, child_end) = must(UnixStream::pair(), "socketpair");
        let mut child = Command::new(bin)
            .args(args)
            .arg("--control-stdin")
            .stdin(Stdio::from(OwnedFd::from(child_end)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::clone(&stdout);
        let Some(out) = child.stdout.take() else {
            panic!("no stdout pipe");
        };
        let stdout_reader = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                lock(&all).push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let Some(mut err) = child.stderr.take() else {
            panic!("no stderr pipe");
        };
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                lock(&sink).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            child,
            control: Some(supervisor),
            lines,
            stdout,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the next stdout line that starts with `prefix`, skipping
    /// others; returns it.
    pub fn wait_for(&self, prefix: &str) -> String {
        self.wait_where(prefix, |l| l.starts_with(prefix))
    }

    /// Wait for a stdout line equal to `line`, skipping others.
    pub fn wait_for_exact(&self, line: &str) {
        self.wait_where(line, |l| l == line);
    }

    fn wait_where(&self, what: &str, hit: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if hit(&l) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line {what:?} within {WAIT:?}; stdout {:?}; stderr {}",
                    self.stdout(),
                    self.stderr()
                ),
            }
        }
    }

    /// The next stdout line, if one comes within `t`.
    pub fn next_line(&self, t: Duration) -> Option<String> {
        self.lines.recv_timeout(t).ok()
    }

    /// Every stdout line read so far (also those already consumed).
    pub fn stdout(&self) -> Vec<String> {
        lock(&self.stdout).clone()
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Wait until stderr contains `needle`: it is read by a thread of its
    /// own, so a line may arrive after the reply that caused it.
    pub fn wait_stderr(&self, needle: &str) {
        let until = Instant::now() + WAIT;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < until,
                "no {needle:?} in stderr: {}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Hand the daemon an endpoint named `name` whose peer is `subject`;
    /// returns our end.
    pub fn hand(&self, name: &str, subject: &str) -> UnixStream {
        let (ours, theirs) = must(UnixStream::pair(), "socketpair");
        self.hand_stream(name, subject, &theirs);
        ours
    }

    /// Hand the daemon `stream` as an endpoint named `name` whose peer is
    /// `subject`.
    pub fn hand_stream(&self, name: &str, subject: &str, stream: &UnixStream) {
        let subject: Subject = must(subject.parse(), "subject");
        let Some(control) = self.control.as_ref() else {
            panic!("the control channel is closed");
        };
        must(
            send_endpoint(control, name, &subject, stream.as_fd()),
            "hand over an endpoint",
        );
    }

    /// A client connection (a `serve` endpoint) whose peer is `subject`.
    pub fn connect(&self, subject: &str) -> Client {
        let mut c = Client::from_stream(self.hand(crate::SERVE, subject));
        c.set_timeout(WAIT);
        c
    }

    /// Give this daemon its upstream `name`, served by `server` to this
    /// daemon as `as_subject`, as nexus-init wires a dependency.
    pub fn link(&self, name: &str, server: &Proc, as_subject: &str) {
        let to_server = server.hand(crate::SERVE, as_subject);
        self.hand_stream(name, &format!("system:{name}"), &to_server);
    }

    /// [`Proc::link`], then wait until the daemon says it took the
    /// endpoint: until then its calls upstream are `EAGAIN`, which a test
    /// of what follows a restart must not mistake for the answer.
    pub fn link_and_wait(&self, name: &str, server: &Proc, as_subject: &str) {
        let said = format!("endpoint to {name} received");
        let before = self.stderr().matches(&said).count();
        self.link(name, server, as_subject);
        let until = Instant::now() + WAIT;
        while self.stderr().matches(&said).count() <= before {
            assert!(
                Instant::now() < until,
                "no {said:?} in stderr: {}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kill the process and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Close the control channel (the supervisor went away) and wait for
    /// the exit.
    pub fn close_control(&mut self) -> ExitStatus {
        self.control.take();
        self.wait_exit()
    }

    /// Wait for the process to exit. Afterwards [`Proc::stdout`] and
    /// [`Proc::stderr`] hold everything it wrote.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let until = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = must(self.child.try_wait(), "wait") {
                break s;
            }
            assert!(Instant::now() < until, "did not exit: {}", self.stderr());
            thread::sleep(Duration::from_millis(20));
        };
        // The readers end when the pipes close with the process.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// Close the control channel, wait for the exit and return the status
    /// and the whole of stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let status = self.close_control();
        (status, self.stderr())
    }

    /// Wait for the process to exit on its own (the control channel stays
    /// open) and return the status and the whole of stderr.
    pub fn wait_output(mut self) -> (ExitStatus, String) {
        let status = self.wait_exit();
        (status, self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// The value, or the test fails with `what` and the error.
fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A binary of another package of the workspace, which cargo does not
/// expose to this one: `$var` if set, else the target directory the test
/// runs from (`target/<profile>/<name>`, the parent of `deps/`). It must
/// have been built first, e.g. by testing the packages together.
pub fn sibling_bin(name: &str, var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let exe = must(std::env::current_exe(), "current_exe");
    let Some(dir) = exe.parent().and_then(Path::parent) else {
        panic!("{} has no target directory", exe.display());
    };
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} not found: build it first (test its package together with this one) or set {var}",
        bin.display()
    );
    bin
}

/// keymintd, durable over `state` (volatile without one), ready: what a
/// daemon under test gets its state key from (hand it over with
/// [`Proc::link`] as `keymintd`). Its binary is found with [`sibling_bin`]
/// (`KEYMINTD_BIN`).
pub fn keymintd(state: Option<&Path>, policy: &Path, run: &Path) -> Proc {
    let bin = sibling_bin("keymintd", "KEYMINTD_BIN");
    let mut args: Vec<&OsStr> = match state {
        Some(s) => vec![OsStr::new("--state"), s.as_os_str()],
        None => vec![OsStr::new("--volatile")],
    };
    args.extend([
        OsStr::new("--policy"),
        policy.as_os_str(),
        OsStr::new("--run"),
        run.as_os_str(),
    ]);
    let p = Proc::spawn(&bin, args);
    p.wait_for("keymintd: ready");
    p
}

/// The trust store's MAC key, asked of `keymintd` (a [`keymintd`] process)
/// as keystored asks it: what a test that writes the trust store the way
/// keystored does needs.
pub fn trust_key(keymintd: &Proc) -> statefs::StateKey {
    let mut c = keymintd.connect("system:keystored");
    let args = must(
        nexus_proto::encode_args::<nexus_proto::KmTrustKey>(&nexus_proto::Empty {}),
        "km.trust_key arguments",
    );
    let reply = must(c.call("km.trust_key", &args), "km.trust_key");
    let key = must(
        nexus_proto::decode_reply::<nexus_proto::KmTrustKey>(reply),
        "km.trust_key reply",
    );
    statefs::StateKey::from_slice(key.key.expose()).unwrap_or_else(|| panic!("not a 32-byte key"))
}

/// The field `name` of a reply map.
pub fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    let Some(map) = v.as_map() else {
        panic!("not a map: {v:?}");
    };
    map.iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}

/// The code of a call the service refused.
pub fn remote_code(r: Result<Value, ClientError>) -> ErrorCode {
    match r {
        Err(e) => e
            .remote_code()
            .unwrap_or_else(|| panic!("not a refusal: {e}")),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

/// The code and message of a call the service refused.
pub fn refusal(r: Result<Value, ClientError>) -> (ErrorCode, String) {
    match r {
        Err(e) => {
            let code = e
                .remote_code()
                .unwrap_or_else(|| panic!("not a refusal: {e}"));
            (code, e.to_string())
        }
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

/// A reply's optional `damaged` list (`status`, `trust.list`): empty when
/// the field is absent.
pub fn damaged(v: &Value) -> Vec<String> {
    let Some(map) = v.as_map() else {
        panic!("not a map: {v:?}");
    };
    match map.iter().find(|(k, _)| k.as_text() == Some("damaged")) {
        None => Vec::new(),
        Some((_, list)) => list
            .as_array()
            .unwrap_or_else(|| panic!("damaged is not an array: {list:?}"))
            .iter()
            .map(|t| {
                t.as_text()
                    .unwrap_or_else(|| panic!("not a path: {t:?}"))
                    .to_owned()
            })
            .collect(),
    }
}

/// Flip one bit of the byte at `at` of the file at `path` (damage a
/// record or an installed file on disk).
pub fn flip(path: &Path, at: usize) {
    let mut bytes = must(std::fs::read(path), "read the file to damage");
    bytes[at] ^= 1;
    must(std::fs::write(path, bytes), "write the damaged file");
}

/// `base` (a policy file) with one more subject holding `capabilities`,
/// written to `dir/policy.toml`; returns its path.
pub fn policy_with_subject(
    dir: &Path,
    base: &Path,
    subject: &str,
    capabilities: &[&str],
) -> PathBuf {
    let shipped = must(std::fs::read_to_string(base), "read the base policy");
    let caps: Vec<String> = capabilities.iter().map(|c| format!("\"{c}\"")).collect();
    let path = dir.join("policy.toml");
    let text = format!(
        "{shipped}\n[[subjects]]\nsubject = \"{subject}\"\ncapabilities = [{}]\n",
        caps.join(", ")
    );
    must(std::fs::write(&path, text), "write the policy");
    path
}
