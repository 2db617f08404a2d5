//! The test supervisor: spawns the real keymintd binary with a control
//! channel on stdin, hands it endpoints with wire::handoff, reads its
//! markers.

use nexus_core::Subject;
use nexus_daemon::SingleClient;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use wire::handoff::send_endpoint;
use wire::Client;

pub const KEYSTORED: &str = "system:keystored";
pub const IDENTITYD: &str = "system:identityd";
pub const APP: &str = "app:com.example.alpha";

pub fn repo_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml")
}

/// State mode of a run.
pub enum Mode<'a> {
    Durable(&'a Path),
    Volatile,
}

pub struct Keymintd {
    pub child: Child,
    control: Option<UnixStream>,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    pub run: tempfile::TempDir,
}

fn spawn_reader(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    rx
}

impl Keymintd {
    /// Start keymintd with `--control-stdin`; does not wait for ready.
    pub fn spawn(mode: Mode<'_>) -> Keymintd {
        Keymintd::spawn_with_policy(mode, &repo_policy())
    }

    pub fn spawn_with_policy(mode: Mode<'_>, policy: &Path) -> Keymintd {
        let run = tempfile::tempdir().unwrap();
        let (supervisor, child_end) = UnixStream::pair().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keymintd"));
        match mode {
            Mode::Durable(dir) => cmd.arg("--state").arg(dir),
            Mode::Volatile => cmd.arg("--volatile"),
        };
        cmd.arg("--policy")
            .arg(policy)
            .arg("--run")
            .arg(run.path())
            .arg("--control-stdin")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(child_end)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let lines = spawn_reader(child.stdout.take().unwrap());
        let mut err = child.stderr.take().unwrap();
        let stderr = Some(thread::spawn(move || {
            let mut buf = String::new();
            let _ = err.read_to_string(&mut buf);
            buf
        }));
        Keymintd {
            child,
            control: Some(supervisor),
            lines,
            stderr,
            run,
        }
    }

    /// The next marker line, if one comes within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Wait for the ready marker and return it.
    pub fn ready(&self) -> String {
        let line = self
            .next_line(Duration::from_secs(20))
            .expect("no ready marker");
        assert!(line.starts_with("keymintd: ready"), "unexpected: {line}");
        line
    }

    /// Hand keymintd a `serve` endpoint whose peer is `subject`; returns
    /// our end as a client.
    pub fn connect(&self, subject: &str) -> Client {
        Client::from_stream(self.endpoint(subject))
    }

    /// Like [`Keymintd::connect`], the raw stream.
    pub fn endpoint(&self, subject: &str) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let subject: Subject = subject.parse().unwrap();
        send_endpoint(
            self.control.as_ref().unwrap(),
            "serve",
            &subject,
            theirs.as_fd(),
        )
        .unwrap();
        ours
    }

    /// A shared client for RemoteKeyMint.
    pub fn single(&self, subject: &str) -> SingleClient {
        SingleClient::new("keymintd", self.connect(subject))
    }

    /// Close the control channel and wait for the exit.
    pub fn close_control(mut self) -> (ExitStatus, String) {
        self.control.take();
        self.wait_exit()
    }

    /// Wait (bounded) for the process to exit; returns the status and
    /// stderr.
    pub fn wait_exit(mut self) -> (ExitStatus, String) {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader ends when the pipe closes with the process.
                let err = self.stderr.take().unwrap().join().unwrap();
                return (status, err);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "keymintd did not exit"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Keymintd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
