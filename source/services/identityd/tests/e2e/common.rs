//! The test supervisor for identityd: runs the real keymintd, identityd
//! and keystored binaries over one state directory with control channels
//! on stdin, wires each daemon's `keymintd` endpoint with `wire::handoff`,
//! and hands out client endpoints with chosen subjects.
//!
//! Binaries: identityd is `CARGO_BIN_EXE_identityd`. keymintd and
//! keystored belong to other packages, whose binaries cargo does not
//! expose here: they are taken from `$KEYMINTD_BIN` / `$KEYSTORED_BIN`, else
//! from the target directory this test runs from (the parent of `deps/`).
//! Build them first, for example by testing the packages together:
//! `cargo test -p keymintd -p keystored -p identityd`.
//!
//! Every wait is bounded ([`WAIT`]); processes are killed on drop.

use nexus_core::Subject;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use wire::handoff::send_endpoint;
use wire::Client;

pub const WAIT: Duration = Duration::from_secs(20);

pub fn sibling_bin(name: &str, var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join(name);
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo test -p keymintd -p keystored -p identityd) or set {var}",
        bin.display()
    );
    bin
}

pub fn policy_text() -> String {
    let uid = rustix::process::getuid().as_raw();
    format!(
        r#"version = 1
[[subjects]]
subject = "system:keystored"
capabilities = []
[[subjects]]
subject = "system:identityd"
capabilities = []
[[subjects]]
subject = "system:admin"
capabilities = ["identity.user.admin", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.vault.use"]
[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.vault.use"]
[[uid_map]]
uid = {uid}
subject = "system:admin"
"#
    )
}

pub struct Proc {
    pub child: Child,
    control: Option<UnixStream>,
    lines: mpsc::Receiver<String>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(bin: &Path, args: &[OsString]) -> Proc {
        let (supervisor, child_end) = UnixStream::pair().unwrap();
        let mut child = Command::new(bin)
            .args(args)
            .arg("--control-stdin")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(child_end)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::clone(&stdout);
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                all.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            child,
            control: Some(supervisor),
            lines,
            stdout,
            stderr,
        }
    }

    pub fn expect(&self, prefix: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line {prefix:?} within {WAIT:?}; stderr {}",
                    self.stderr()
                ),
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn hand(&self, name: &str, subject: &str) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let subject: Subject = subject.parse().unwrap();
        send_endpoint(
            self.control.as_ref().unwrap(),
            name,
            &subject,
            theirs.as_fd(),
        )
        .unwrap();
        ours
    }

    pub fn connect(&self, subject: &str) -> Client {
        Client::from_stream(self.hand("serve", subject))
    }

    /// Give this daemon a fresh connection to keymintd as `subject`.
    pub fn wire_keymintd(&self, keymintd: &Proc, subject: &str) {
        let theirs = keymintd.hand("serve", subject);
        let peer: Subject = "system:keymintd".parse().unwrap();
        send_endpoint(
            self.control.as_ref().unwrap(),
            "keymintd",
            &peer,
            theirs.as_fd(),
        )
        .unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// keymintd, identityd and keystored over one state directory.
pub struct Stack {
    pub keymintd: Proc,
    pub identityd: Proc,
    pub keystored: Proc,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Start all three; identityd with `extra` flags. Returns once both
    /// keystored and identityd said ready; also returns identityd's ready
    /// line.
    pub fn start(extra: &[&str]) -> (Stack, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("policy.toml"), policy_text()).unwrap();
        std::fs::create_dir(p.join("trust")).unwrap();
        let common: Vec<OsString> = vec![
            "--state".into(),
            p.join("state").into(),
            "--policy".into(),
            p.join("policy.toml").into(),
        ];
        let with = |run: &str, more: &[&str]| {
            let mut a = common.clone();
            a.extend(["--run".into(), p.join(run).into()]);
            a.extend(more.iter().map(OsString::from));
            a
        };
        let keymintd = Proc::spawn(&sibling_bin("keymintd", "KEYMINTD_BIN"), &with("run", &[]));
        keymintd.expect("keymintd: ready");
        let identityd = Proc::spawn(
            Path::new(env!("CARGO_BIN_EXE_identityd")),
            &with("run", extra),
        );
        identityd.wire_keymintd(&keymintd, "system:identityd");
        let trust = p.join("trust");
        let ks_args = with("run", &["--trust-dir", trust.to_str().unwrap()]);
        let keystored = Proc::spawn(&sibling_bin("keystored", "KEYSTORED_BIN"), &ks_args);
        keystored.wire_keymintd(&keymintd, "system:keystored");
        let ready = identityd.expect("identityd: ready");
        keystored.expect("keystore: ready");
        (
            Stack {
                keymintd,
                identityd,
                keystored,
                dir,
            },
            ready,
        )
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/identityd.sock")
    }

    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/audit/identityd.jsonl")).unwrap()
    }
}
