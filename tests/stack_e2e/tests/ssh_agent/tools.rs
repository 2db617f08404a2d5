//! The third-party tools the SSH agent is tested with, and the agent
//! process itself.
//!
//! Invariants: a missing tool fails the test with the command that
//! installs it (never a skip); every process started here is killed and
//! reaped on drop; every wait is bounded.

use crate::harness::{bin_dir, must, WAIT};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The sshd binary (Debian's openssh-server).
pub const SSHD: &str = "/usr/sbin/sshd";

/// Fail the test unless every tool is installed.
pub fn require_tools() {
    let missing: Vec<&str> = ["ssh", "ssh-add", "ssh-keygen", "ssh-agent", "git"]
        .into_iter()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .chain((!Path::new(SSHD).is_file()).then_some(SSHD))
        .collect();
    assert!(
        missing.is_empty(),
        "missing {}: run scripts/install-test-deps.sh (Debian's openssh-client, \
         openssh-server and git)",
        missing.join(", ")
    );
}

/// Run `cmd` with `stdin`, bounded by [`WAIT`]; its output.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = must(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn(),
        &format!("spawn {cmd:?}"),
    );
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let until = Instant::now() + WAIT;
    while must(child.try_wait(), "wait").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = writer.join();
    must(child.wait_with_output(), "output")
}

/// Run `cmd`; fail the test unless it succeeds; its stdout as text.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd, b"");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `nx --run <run> ARGS`.
pub fn nx(run: &Path, args: &[&str]) -> String {
    ok(Command::new(bin_dir().join("nx"))
        .arg("--run")
        .arg(run)
        .args(args))
}

/// A command with `SSH_AUTH_SOCK` set to `sock`.
pub fn with_agent(program: &str, sock: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("SSH_AUTH_SOCK", sock)
        .env("SSH_ASKPASS_REQUIRE", "never");
    c
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = must(TcpListener::bind("127.0.0.1:0"), "bind a free port");
    must(l.local_addr(), "local address").port()
}

/// A child process killed and reaped on drop, whose stdout and stderr
/// lines are kept.
pub struct Proc {
    child: Child,
    name: String,
    lines: Receiver<String>,
    all: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawn `cmd`.
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let mut child = must(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn(),
            &format!("spawn {name}"),
        );
        let (tx, lines) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (tx, all) = (tx.clone(), Arc::clone(&all));
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    all.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Proc {
            child,
            name: name.to_owned(),
            lines,
            all,
        }
    }

    /// Wait (bounded) for a line matching `want`; returns it.
    pub fn expect(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if want(&l) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "{}: no {what:?} within {WAIT:?}; output:\n{}",
                    self.name,
                    self.output().join("\n")
                ),
            }
        }
    }

    /// Every line so far.
    pub fn output(&self) -> Vec<String> {
        self.all.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- {} ---\n{}", self.name, self.output().join("\n"));
        }
    }
}

/// nexus-ssh-agent started by the test on its own (as on a host), serving
/// `<dir>/agent.sock` for the stack in `run`.
pub fn start_agent(run: &Path, dir: &Path) -> (Proc, PathBuf) {
    let sock = dir.join("agent.sock");
    let agent = Proc::spawn(
        "nexus-ssh-agent",
        Command::new(bin_dir().join("nexus-ssh-agent"))
            .arg("--run")
            .arg(run)
            .arg("--socket")
            .arg(&sock),
    );
    let line = agent.expect("SSH_AUTH_SOCK", |l| l.starts_with("SSH_AUTH_SOCK="));
    assert_eq!(
        line,
        format!("SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;", sock.display())
    );
    (agent, sock)
}

/// An unprivileged-style sshd: the current user's, on 127.0.0.1 at a free
/// port, with its own host key and configuration, accepting the public
/// keys in `authorized` (and nothing else).
pub struct Sshd {
    /// The server process (`sshd -D -e`), killed on drop.
    _proc: Proc,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl Sshd {
    /// Start it in `dir`.
    pub fn start(dir: &Path, authorized: &str) -> Sshd {
        // sshd run as root wants its privilege separation directory, which
        // Debian's service unit creates at boot; make it if missing.
        if rustix::process::geteuid().is_root() && !Path::new("/run/sshd").is_dir() {
            must(std::fs::create_dir_all("/run/sshd"), "create /run/sshd");
        }
        let host_key = dir.join("host_ed25519");
        ok(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key));
        let keys = dir.join("authorized_keys");
        must(std::fs::write(&keys, authorized), "authorized_keys");
        let port = free_port();
        let config = dir.join("sshd_config");
        let text = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\n\
             AuthorizedKeysFile {}\nStrictModes no\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
            host_key.display(),
            keys.display()
        );
        must(std::fs::write(&config, text), "sshd_config");
        let proc = Proc::spawn(
            "sshd",
            Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config),
        );
        proc.expect("Server listening", |l| l.starts_with("Server listening on"));
        Sshd {
            _proc: proc,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// `ssh` to this server as the current user through the agent at
    /// `sock`, offering only the key in `pub_file`, running `command`.
    pub fn ssh(&self, sock: &Path, pub_file: &Path, command: &str) -> Output {
        let user = ok(Command::new("id").arg("-un")).trim().to_owned();
        run(
            Command::new("ssh")
                .env_remove("SSH_AUTH_SOCK")
                .args(["-F", "/dev/null", "-o", "BatchMode=yes"])
                .arg("-o")
                .arg(format!("IdentityAgent={}", sock.display()))
                .args(["-o", "IdentitiesOnly=yes"])
                .arg("-o")
                .arg(format!("IdentityFile={}", pub_file.display()))
                .args(["-o", "StrictHostKeyChecking=no"])
                .arg("-o")
                .arg(format!(
                    "UserKnownHostsFile={}",
                    self.dir.join("known_hosts").display()
                ))
                .args(["-p", &self.port.to_string()])
                .arg(format!("{user}@127.0.0.1"))
                .arg(command),
            b"",
        )
    }
}
