//! The agent as a process (the binary cargo built): what it prints, its
//! socket's mode and owner, one agent per socket, and how it stops
//! (SIGTERM on a host, the control channel closing under the supervisor).
//! The stack and the OpenSSH tools are exercised by `tests/stack_e2e`'s
//! `ssh_agent` test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rustix::process::{kill_process, Pid, Signal};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nexus-ssh-agent");
const WAIT: Duration = Duration::from_secs(20);

fn spawn(args: &[&str], stdin: Stdio) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

fn line(out: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    l.trim_end().to_owned()
}

fn wait_exit(child: &mut Child) -> i32 {
    let until = Instant::now() + WAIT;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(Instant::now() < until, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ask(sock: &Path, body: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    reply
}

#[test]
fn standalone_agent_prints_its_socket_and_removes_it_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let run = dir.path().join("no-stack-here");
    let (mut child, mut out) = spawn(
        &[
            "--run",
            run.to_str().unwrap(),
            "--socket",
            sock.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    assert_eq!(
        line(&mut out),
        format!("SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;", sock.display())
    );
    assert_eq!(
        line(&mut out),
        format!("SSH_AGENT_PID={}; export SSH_AGENT_PID;", child.id())
    );
    assert_eq!(line(&mut out), format!("echo Agent pid {};", child.id()));
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
    // No keystore behind it: listing fails (SSH_AGENT_FAILURE), and the
    // agent keeps serving.
    assert_eq!(ask(&sock, &[11]), [5]);
    assert_eq!(ask(&sock, &[99]), [5]);
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    kill_process(pid, Signal::Term).unwrap();
    assert_eq!(wait_exit(&mut child), 0);
    assert!(!sock.exists(), "socket left behind");
}

#[test]
fn test_reject_a_second_agent_on_the_same_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let args = ["--run", "/nonexistent", "--socket", sock.to_str().unwrap()];
    let (mut first, mut out) = spawn(&args, Stdio::null());
    assert!(line(&mut out).starts_with("SSH_AUTH_SOCK="));
    let (mut second, _) = spawn(&args, Stdio::null());
    assert_eq!(wait_exit(&mut second), 1);
    let mut err = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("another server is serving"), "{err}");
    // The first one still serves.
    assert_eq!(ask(&sock, &[99]), [5]);
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn test_reject_a_socket_path_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.sock");
    std::fs::write(&file, b"not a socket").unwrap();
    let (mut child, _) = spawn(
        &["--run", "/nonexistent", "--socket", file.to_str().unwrap()],
        Stdio::null(),
    );
    assert_eq!(wait_exit(&mut child), 1);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a socket");
}

#[test]
fn under_the_supervisor_it_serves_run_and_stops_when_the_control_channel_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (control, theirs) = UnixStream::pair().unwrap();
    let run = dir.path();
    let (mut child, mut out) = spawn(
        &[
            "--volatile",
            "--policy",
            "/nonexistent/policy.toml",
            "--run",
            run.to_str().unwrap(),
            "--trust-dir",
            "/nonexistent",
            "--control-stdin",
        ],
        Stdio::from(std::os::fd::OwnedFd::from(theirs)),
    );
    let sock = run.join("nexus-ssh-agent.sock");
    assert_eq!(
        line(&mut out),
        format!("SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;", sock.display())
    );
    line(&mut out);
    assert_eq!(line(&mut out), "nexus-ssh-agent: ready");
    assert_eq!(ask(&sock, &[99]), [5]);
    drop(control);
    assert_eq!(wait_exit(&mut child), 0);
    assert!(!sock.exists());
}

#[test]
fn test_reject_usage_errors() {
    let (mut child, _) = spawn(&["--socket", "/tmp/x"], Stdio::null());
    assert_eq!(wait_exit(&mut child), 2, "--run is required");
    let (mut child, _) = spawn(&["--run", "/r", "--purpose", "../x"], Stdio::null());
    assert_eq!(wait_exit(&mut child), 2, "a purpose is a label");
}

/// `systemd-analyze verify` of the shipped user unit, with `ExecStart`
/// pointing at the binary cargo built (verify checks that it exists):
/// no error and no warning. An unknown key in a copy is reported, so the
/// check would see a broken unit.
#[test]
fn the_systemd_user_unit_verifies() {
    let unit_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../config/systemd/user/nexus-ssh-agent.service");
    let text = std::fs::read_to_string(&unit_path).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/nexus-ssh-agent --run /run/nexus"));
    let dir = tempfile::tempdir().unwrap();
    let verify = |body: &str| {
        let unit = dir.path().join("nexus-ssh-agent.service");
        std::fs::write(&unit, body).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()
            .expect("systemd-analyze (Debian's systemd; run scripts/install-test-deps.sh)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ours = text.replace("/usr/local/bin/nexus-ssh-agent", BIN);
    let (ok, err) = verify(&ours);
    assert!(ok && err.trim().is_empty(), "systemd-analyze: {err}");
    let broken = ours.replace("[Service]\n", "[Service]\nNoSuchKey=1\n");
    let (_, err) = verify(&broken);
    assert!(
        err.contains("NoSuchKey"),
        "a broken unit went unnoticed: {err}"
    );
}
