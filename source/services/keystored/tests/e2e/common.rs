//! The test supervisor: runs the real keymintd and keystored binaries with
//! a control channel on stdin (as nexus-init does), wires keystored's
//! `keymintd` endpoint with `wire::handoff`, hands out client endpoints
//! with chosen subjects, reads markers, and plays identityd towards
//! keymintd (users' vault keys and session unseal through `RemoteKeyMint`)
//! so the vault can be driven without the identityd binary.
//!
//! Binaries: keystored is `CARGO_BIN_EXE_keystored`. keymintd is another
//! package's binary, which cargo does not expose to this crate: it is taken
//! from `$KEYMINTD_BIN` if set, else from the target directory this test
//! runs from (`target/<profile>/keymintd`, the parent of `deps/`). Build it
//! first, for example by testing both packages together:
//! `cargo test -p keymintd -p keystored`.
//!
//! Every wait is bounded ([`WAIT`]); processes are killed on drop.

use keymint::{AuthSecret, VaultKeyOps};
use keymintd::RemoteKeyMint;
use nexus_core::{SessionId, Subject, UserId};
use nexus_daemon::SingleClient;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use wire::handoff::send_endpoint;
use wire::{Args, Client, Value};

pub const WAIT: Duration = Duration::from_secs(20);
pub const ALPHA: &str = "app:com.example.alpha";
pub const BETA: &str = "app:com.example.beta";
pub const DELTA: &str = "app:com.example.delta";
pub const ATTESTD: &str = "system:attestd";

pub fn keymintd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYMINTD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("keymintd");
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo test -p keymintd -p keystored) or set KEYMINTD_BIN",
        bin.display()
    );
    bin
}

/// The test's policy: the apps with what they need (beta with a small
/// vault quota, delta with the default one for the load test), gamma with
/// nothing, admin with everything, the test's own uid mapped to
/// system:admin for the public socket.
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
subject = "system:attestd"
capabilities = ["identity.key.create", "identity.key.sign"]
[[subjects]]
subject = "system:admin"
capabilities = ["identity.key.create", "identity.key.sign", "identity.trust.write", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.sign", "identity.key.seal", "identity.key.decrypt", "identity.key.export",
  "identity.vault.use"]
[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.key.create", "identity.key.sign", "identity.key.seal",
  "identity.key.decrypt", "identity.vault.use"]
vault_quota = {{ soft_bytes = 65536, hard_bytes = 131072, soft_count = 2, hard_count = 3 }}
[[subjects]]
subject = "app:com.example.delta"
capabilities = ["identity.key.create", "identity.key.sign", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.gamma"
capabilities = []
[[uid_map]]
uid = {uid}
subject = "system:admin"
"#
    )
}

/// A daemon process with its control channel and output.
pub struct Proc {
    pub child: Child,
    control: Option<UnixStream>,
    lines: mpsc::Receiver<String>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(bin: &Path, args: &[&std::ffi::OsStr]) -> Proc {
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

    /// Wait for the next marker line starting with `prefix`; returns it.
    pub fn expect(&self, prefix: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line {prefix:?} within {WAIT:?}; stdout {:?}; stderr {}",
                    self.stdout.lock().unwrap(),
                    self.stderr()
                ),
            }
        }
    }

    /// The next marker line, if one comes within `t`.
    pub fn next_line(&self, t: Duration) -> Option<String> {
        self.lines.recv_timeout(t).ok()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait (bounded) until stderr contains `needle`: it is read by a
    /// thread of its own, so a line may arrive after the reply.
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

    /// A client connection whose peer is `subject`.
    pub fn connect(&self, subject: &str) -> Client {
        Client::from_stream(self.hand("serve", subject))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Close the control channel and wait (bounded) for the exit.
    pub fn close_control(&mut self) -> ExitStatus {
        self.control.take();
        let until = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "did not exit: {}", self.stderr());
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// keymintd + keystored over one state directory, as nexus-init runs them.
pub struct Stack {
    pub keymintd: Proc,
    pub keystored: Proc,
    pub dir: tempfile::TempDir,
    /// The test playing identityd towards keymintd.
    pub identityd: RemoteKeyMint,
}

impl Stack {
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn run(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn trust(&self) -> PathBuf {
        self.dir.path().join("trust")
    }
    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.state().join("audit/keystored.jsonl")).unwrap_or_default()
    }

    /// Start both daemons (durable state) and wait until keystored is ready.
    pub fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("policy.toml"), policy_text()).unwrap();
        std::fs::create_dir(p.join("trust")).unwrap();
        let args = Self::args(p);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        let keymintd = Proc::spawn(&keymintd_bin(), &args[..6]);
        keymintd.expect("keymintd: ready");
        let identityd = RemoteKeyMint::connect(SingleClient::new(
            "keymintd",
            keymintd.connect("system:identityd"),
        ))
        .unwrap();
        let keystored = Self::spawn_keystored(&keymintd, p);
        Stack {
            keymintd,
            keystored,
            dir,
            identityd,
        }
    }

    fn args(p: &Path) -> Vec<std::ffi::OsString> {
        [
            "--state".into(),
            p.join("state").into_os_string(),
            "--policy".into(),
            p.join("policy.toml").into_os_string(),
            "--run".into(),
            p.join("run").into_os_string(),
            "--trust-dir".into(),
            p.join("trust").into_os_string(),
        ]
        .to_vec()
    }

    fn spawn_keystored(keymintd: &Proc, p: &Path) -> Proc {
        let args = Self::args(p);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        let ks = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_keystored")), &args);
        Self::wire_keymintd(keymintd, &ks);
        ks
    }

    /// A fresh keystored → keymintd connection, as nexus-init re-issues it.
    fn wire_keymintd(keymintd: &Proc, ks: &Proc) {
        let to_keymintd = keymintd.hand("serve", "system:keystored");
        let subject: Subject = "system:keymintd".parse().unwrap();
        send_endpoint(
            ks.control.as_ref().unwrap(),
            "keymintd",
            &subject,
            to_keymintd.as_fd(),
        )
        .unwrap();
    }

    /// Kill keystored hard and start it again over the same state.
    pub fn restart_keystored(&mut self) -> Proc {
        self.keystored.kill();
        let fresh = Self::spawn_keystored(&self.keymintd, self.dir.path());
        std::mem::replace(&mut self.keystored, fresh)
    }

    /// Create `user` (password-derived secret `seed`) and open an unsealed
    /// session for them in keymintd, as identityd does at login.
    pub fn login(&self, user: &str, seed: u8, sid_byte: u8) -> SessionId {
        let user = UserId::new(user).unwrap();
        let auth = AuthSecret::from_bytes([seed; 32]);
        let wrapped = self.identityd.create_vault_key(&user, &auth).unwrap();
        let sid = SessionId::from_bytes([sid_byte; 16]);
        self.identityd
            .unseal_session(sid, &user, &auth, &wrapped)
            .unwrap();
        sid
    }
}

/// `args` as an Args map.
pub fn args(pairs: &[(&'static str, Value)]) -> Args {
    pairs
        .iter()
        .fold(Args::new(), |a, (k, v)| a.with(k, v.clone()))
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A field of a reply map.
pub fn field(v: &Value, name: &str) -> Value {
    v.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}
