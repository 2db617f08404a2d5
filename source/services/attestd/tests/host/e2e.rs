//! The real attestd binary, started as nexus-init starts it: a control
//! channel on stdin carrying the `keystored` upstream endpoint and `serve`
//! endpoints with their subjects; markers read from stdout. keystored is
//! the in-test stand-in (fake_keystored.rs) over a real keystore and
//! keymint, since only the documented ops matter to attestd.

use crate::common::*;
use crate::fake_keystored::{FakeKeystored, Tamper};
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use wire::{Args, Client, Value};

const WAIT: Duration = Duration::from_secs(30);

struct Daemon {
    child: Child,
    control: Option<UnixStream>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    /// Start attestd with `--state <dir>/attestd --policy … --run …
    /// --control-stdin` and hand it `keystored` (served by `fake`'s stack).
    fn start(dir: &Path, stack: &Stack, tamper: Tamper) -> (Daemon, FakeKeystored) {
        let uid = std::fs::metadata(dir).unwrap().uid();
        let policy = format!("{POLICY}\n[[uid_map]]\nuid = {uid}\nsubject = \"system:admin\"\n");
        std::fs::write(dir.join("policy.toml"), policy).unwrap();
        let (control, theirs) = UnixStream::pair().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_attestd"))
            .arg("--state")
            .arg(dir.join("attestd"))
            .arg("--policy")
            .arg(dir.join("policy.toml"))
            .arg("--run")
            .arg(dir.join("run"))
            .arg("--control-stdin")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
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
        let (fake, keystored) = FakeKeystored::start(stack, tamper);
        wire::handoff::send_endpoint(
            &control,
            "keystored",
            &subject("system:keystored"),
            keystored.as_fd(),
        )
        .unwrap();
        (
            Daemon {
                child,
                control: Some(control),
                lines: rx,
                seen: Vec::new(),
            },
            fake,
        )
    }

    /// Wait for a stdout line equal to `want`; fail on timeout or exit.
    fn expect_line(&mut self, want: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    let hit = l == want;
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no line {want:?}; stdout so far: {:?}", self.seen);
    }

    /// A client connection handed over as a `serve` endpoint for `subj`.
    fn client(&self, subj: &str) -> Client {
        let (ours, theirs) = UnixStream::pair().unwrap();
        wire::handoff::send_endpoint(
            self.control.as_ref().unwrap(),
            "serve",
            &subject(subj),
            theirs.as_fd(),
        )
        .unwrap();
        Client::from_stream(ours)
    }

    /// Close the control channel (the supervisor went away) and wait.
    fn stop(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.control.take());
        let status = wait_exit(&mut self.child);
        self.seen.extend(self.lines.try_iter());
        (status, std::mem::take(&mut self.seen))
    }
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("attestd did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn audit_file(dir: &Path) -> PathBuf {
    dir.join("attestd/audit/attestd.jsonl")
}

#[test]
fn daemon_serves_endpoints_and_public_socket_with_markers_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(&dir.path().join("keystore"), POLICY);
    let key = stack.create_key(ALPHA, "sign", "k");
    let kid = stack
        .store
        .public_key(&subject(ALPHA), &key, None)
        .unwrap()
        .kid;

    let (mut d, fake) = Daemon::start(dir.path(), &stack, Tamper::None);
    d.expect_line("attestd: ready");
    // Ready came after the device key was created and a test token signed.
    let calls = fake.calls();
    assert!(
        calls.starts_with(&["key.show".into(), "key.create".into()]),
        "{calls:?}"
    );
    assert!(calls.contains(&"key.sign".to_owned()), "{calls:?}");

    // An app over a handed-over endpoint: its subject comes from the
    // supervisor, not from anything it sends.
    let mut alpha = d.client(ALPHA);
    let args = Args::new()
        .with("purpose", "sign")
        .with("name", "k")
        .with("nonce", Value::Bytes(NONCE.to_vec()));
    let reply = alpha.call("attest", &args).unwrap();
    d.expect_line(&format!("attest: ok app=com.example.alpha key={kid}"));
    let token = field(&reply, "token").as_bytes().unwrap().clone();
    let dk = alpha.call("attest.device_key", &Args::new()).unwrap();
    let device_pub = field(&dk, "public_key").as_bytes().unwrap().clone();
    let now = nexus_core::Clock::now_unix(&nexus_core::SystemClock);
    let v = eat::verify_token(&token, &device_pub, NONCE, now).unwrap();
    assert_eq!(v.claims.app_id.as_str(), "com.example.alpha");
    assert_eq!(v.attested_kid, kid);

    // gamma lacks identity.attest: EPERM, no marker.
    let mut gamma = d.client(GAMMA);
    stack.create_key(GAMMA, "sign", "k");
    let e = gamma.call("attest", &args).unwrap_err();
    assert_eq!(e.remote_code(), Some(nexus_core::ErrorCode::Eperm));

    // The public socket: this process's uid maps to system:admin, which
    // may rotate the device key.
    let mut admin = Client::connect(dir.path().join("run/attestd.sock")).unwrap();
    let rotated = admin
        .call("attest.rotate_device_key", &Args::new())
        .unwrap();
    assert_eq!(field(&rotated, "version").as_integer().unwrap(), 2.into());
    let st = admin.call("status", &Args::new()).unwrap();
    assert_eq!(field(&st, "service").as_text(), Some("attestd"));

    let (status, seen) = d.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("attest: ok")).count(),
        1,
        "{seen:?}"
    );
    // Every decision attestd made is in its audit log.
    let audit = std::fs::read_to_string(audit_file(dir.path())).unwrap();
    for want in [
        "\"subject\":\"app:com.example.alpha\",\"capability\":\"identity.attest\",\"target\":\"com.example.alpha/sign/k\",\"decision\":\"allow\"",
        "\"subject\":\"app:com.example.gamma\",\"capability\":\"identity.attest\",\"target\":\"com.example.gamma/sign/k\",\"decision\":\"deny\"",
        "\"subject\":\"system:admin\",\"capability\":\"identity.key.rotate\",\"target\":\"system/device-attest/device\",\"decision\":\"allow\"",
    ] {
        assert!(audit.contains(want), "missing {want} in:\n{audit}");
    }

    // A second start over the same keystore: same (rotated) device key, no
    // second create.
    let (mut d, fake) = Daemon::start(dir.path(), &stack, Tamper::None);
    d.expect_line("attestd: ready");
    assert!(!fake.calls().contains(&"key.create".to_owned()));
    let dk2 = d
        .client(ALPHA)
        .call("attest.device_key", &Args::new())
        .unwrap();
    assert_eq!(field(&dk2, "kid"), field(&rotated, "kid"));
    let (status, _) = d.stop();
    assert!(status.success());
}

#[test]
fn test_reject_ready_when_the_self_test_fails_with_exit_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(&dir.path().join("keystore"), POLICY);
    // keystored signs with a key other than the device key: the self-test
    // token cannot verify, so attestd must never say ready.
    let (mut d, _fake) = Daemon::start(dir.path(), &stack, Tamper::ForeignSignature);
    let status = wait_exit(&mut d.child);
    d.seen.extend(d.lines.try_iter());
    assert_eq!(status.code(), Some(1), "{:?}", d.seen);
    assert!(
        !d.seen.iter().any(|l| l.starts_with("attestd: ready")),
        "{:?}",
        d.seen
    );
}
