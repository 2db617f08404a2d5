//! The test supervisor: the real keymintd binary run by
//! `nexus_daemon::testkit::Proc` (a control channel on stdin, endpoints
//! handed over with wire::handoff, markers read from stdout).

use nexus_daemon::testkit::{Proc, WAIT};
use nexus_daemon::{SingleClient, SERVE};
use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;
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
    proc: Proc,
    pub run: tempfile::TempDir,
}

impl Keymintd {
    /// Start keymintd with `--control-stdin`; does not wait for ready.
    pub fn spawn(mode: Mode<'_>) -> Keymintd {
        Keymintd::spawn_with_policy(mode, &repo_policy())
    }

    pub fn spawn_with_policy(mode: Mode<'_>, policy: &Path) -> Keymintd {
        let run = tempfile::tempdir().unwrap();
        let mut args: Vec<OsString> = match mode {
            Mode::Durable(dir) => vec!["--state".into(), dir.into()],
            Mode::Volatile => vec!["--volatile".into()],
        };
        args.extend([
            "--policy".into(),
            policy.into(),
            "--run".into(),
            run.path().into(),
        ]);
        let proc = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_keymintd")), args);
        Keymintd { proc, run }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The next marker line, if one comes within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.proc.next_line(timeout)
    }

    /// Wait for the ready marker and return it.
    pub fn ready(&self) -> String {
        let line = self.next_line(WAIT).expect("no ready marker");
        assert!(line.starts_with("keymintd: ready"), "unexpected: {line}");
        line
    }

    /// Hand keymintd a `serve` endpoint whose peer is `subject`; returns
    /// our end as a client.
    pub fn connect(&self, subject: &str) -> Client {
        self.proc.connect(subject)
    }

    /// Like [`Keymintd::connect`], the raw stream.
    pub fn endpoint(&self, subject: &str) -> UnixStream {
        self.proc.hand(SERVE, subject)
    }

    /// A shared client for RemoteKeyMint.
    pub fn single(&self, subject: &str) -> SingleClient {
        SingleClient::new("keymintd", self.connect(subject))
    }

    /// Close the control channel and wait for the exit; returns the status
    /// and stderr.
    pub fn close_control(self) -> (ExitStatus, String) {
        self.proc.finish()
    }

    /// Wait for the process to exit; returns the status and stderr.
    pub fn wait_exit(self) -> (ExitStatus, String) {
        self.proc.wait_output()
    }
}
