//! Running nexus-init for a test: a private directory with a manifest, a
//! policy file (it only maps the test's uid, for `init.sock`) and a trust
//! dir; init's stdout collected line by line; every wait bounded; init
//! killed if a test ends early.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use wire::Args;

pub const WAIT: Duration = Duration::from_secs(20);

/// A `[[service]]` entry running this test binary as a contract child.
pub fn child_entry(name: &str, extra: &str, args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut all = vec!["--contract-child", "--name", name];
    all.extend_from_slice(args);
    format!(
        "[[service]]\nname = \"{name}\"\nbinary = {exe:?}\nsubject = \"system:{name}\"\nargs = {all:?}\n{extra}\n"
    )
}

/// The app entry `--selftest` runs.
pub fn app_entry(args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut all = vec!["--contract-child", "--name", "selftest-client", "--app"];
    all.extend_from_slice(args);
    format!(
        "[[service]]\nname = \"selftest-client\"\nkind = \"app\"\nbinary = {exe:?}\nsubject = \"system:selftest\"\nargs = {all:?}\n"
    )
}

pub struct Init {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Init {
    /// Start nexus-init on `manifest` with `--state <dir>/state` (unless
    /// `args` says `--volatile`) and `args`.
    pub fn start(manifest: &str, args: &[&str]) -> Init {
        Init::start_env(manifest, args, &[])
    }

    /// [`Init::start`] with `env` added to init's environment.
    pub fn start_env(manifest: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Init {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("init.toml"), format!("version = 1\n{manifest}")).unwrap();
        let uid = rustix::process::getuid().as_raw();
        std::fs::write(
            p.join("policy.toml"),
            format!("version = 1\n[[subjects]]\nsubject = \"uid:{uid}\"\ncapabilities = []\n"),
        )
        .unwrap();
        std::fs::create_dir(p.join("trust")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus-init"));
        cmd.arg("--config")
            .arg(p.join("init.toml"))
            .arg("--policy")
            .arg(p.join("policy.toml"));
        if !args.contains(&"--volatile") {
            cmd.arg("--state").arg(p.join("state"));
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Init {
            child,
            lines: rx,
            seen: Vec::new(),
            dir,
        }
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("state/run")
    }

    /// Wait for the next line equal to `want` (earlier lines are kept in
    /// `seen`).
    pub fn expect(&mut self, want: &str) {
        self.expect_with(|l| l == want, want);
    }

    /// Wait for a line starting with `prefix`; returns it.
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        self.expect_with(|l| l.starts_with(prefix), prefix)
    }

    fn expect_with(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {what:?} within {WAIT:?}; saw {:#?}", self.seen),
            }
        }
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, sig).unwrap();
    }

    /// Wait (bounded) for init to exit; drains the rest of its output.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return st;
            }
            assert!(
                Instant::now() < until,
                "init did not exit; saw {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        // A failed test must not leave init behind; its children see their
        // control channel close and exit on their own.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` still exists (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Wait (bounded) until `pid` is gone.
pub fn wait_gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Call `op` on the public socket `path`, retrying connection failures
/// (bounded) while a restarted service binds it again.
pub fn call(path: &Path, op: &str, args: wire::Args) -> wire::Value {
    let until = Instant::now() + WAIT;
    loop {
        let got = wire::Client::connect(path).and_then(|mut c| c.call(op, &args));
        match got {
            Ok(v) => return v,
            Err(e) if Instant::now() < until => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{op} on {}: {e}", path.display()),
        }
    }
}

/// A field of a reply map.
pub fn field<'a>(v: &'a wire::Value, key: &str) -> &'a wire::Value {
    match v {
        wire::Value::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {v:?}")),
        _ => panic!("not a map: {v:?}"),
    }
}

pub fn pid_of(v: &wire::Value) -> u32 {
    u32::try_from(field(v, "pid").as_integer().unwrap()).unwrap()
}

/// `init.status` from init's own socket.
pub fn init_status(init: &Init) -> wire::Value {
    call(
        &init.run_dir().join("init.sock"),
        "init.status",
        Args::new(),
    )
}

/// The entry of service `name` in an `init.status` reply.
pub fn entry<'a>(status: &'a wire::Value, name: &str) -> &'a wire::Value {
    field(status, "services")
        .as_array()
        .unwrap()
        .iter()
        .find(|s| field(s, "name").as_text() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {status:?}"))
}

/// The state and pid of service `name` in an `init.status` reply.
pub fn unit(status: &wire::Value, name: &str) -> (String, Option<u32>) {
    let one = entry(status, name);
    let state = field(one, "state").as_text().unwrap().to_owned();
    let pid = field(one, "pid")
        .as_integer()
        .map(|p| u32::try_from(p).unwrap());
    (state, pid)
}

/// Wait (bounded) until `init.status` says `name` is `want`; returns its
/// pid then.
pub fn await_state(init: &Init, name: &str, want: &str) -> Option<u32> {
    let until = Instant::now() + WAIT;
    loop {
        let (state, pid) = unit(&init_status(init), name);
        if state == want {
            return pid;
        }
        assert!(Instant::now() < until, "{name} never {want} (is {state})");
        std::thread::sleep(Duration::from_millis(20));
    }
}
