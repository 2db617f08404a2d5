//! The bundlemgrd process over real sockets: the process contract (ready
//! only once serving, volatile said, control-channel EOF exits 0, a
//! missing trust directory stops it before ready) and every `bundle.*` op
//! with the caller's subject coming from the handed-over endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nexus_core::{ErrorCode, Label, Subject};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, Version};
use wire::{Args, Client, ClientError, Value};

const WAIT: Duration = Duration::from_secs(20);
const APP: &str = "com.example.app";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml")
}

struct Daemon {
    child: Child,
    control: UnixStream,
    lines: Receiver<String>,
}

impl Daemon {
    fn spawn(state: Option<&Path>, run: &Path, trust: &Path) -> Daemon {
        let (control, theirs) = UnixStream::pair().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bundlemgrd"));
        match state {
            Some(s) => cmd.arg("--state").arg(s),
            None => cmd.arg("--volatile"),
        };
        cmd.arg("--policy")
            .arg(policy())
            .arg("--run")
            .arg(run)
            .arg("--trust-dir")
            .arg(trust)
            .arg("--control-stdin")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            control,
            lines,
        }
    }

    fn ready(&self) -> String {
        self.lines.recv_timeout(WAIT).expect("no ready line")
    }

    fn connect(&self, subject: &str) -> Client {
        let (mine, theirs) = UnixStream::pair().unwrap();
        let subject: Subject = subject.parse().unwrap();
        wire::handoff::send_endpoint(&self.control, "serve", &subject, theirs.as_fd()).unwrap();
        let mut c = Client::from_stream(mine);
        c.set_timeout(WAIT);
        c
    }

    fn close(mut self) -> (ExitStatus, String) {
        drop(self.control);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err)
                    .unwrap();
                return (st, err);
            }
            assert!(std::time::Instant::now() < deadline, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Env {
    tmp: tempfile::TempDir,
    trust: PathBuf,
    key: MinisignSecretKey,
    root: TrustRoot,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    fs::create_dir(&trust).unwrap();
    let key = MinisignSecretKey::generate().unwrap();
    let root = TrustRoot::from_minisign(
        &key.public_key(),
        Label::new("publisher").unwrap(),
        &[Scope::Packages],
        now() - 1000,
        now() + 100_000,
    )
    .unwrap();
    fs::write(trust.join(root.file_name()), root.to_toml()).unwrap();
    Env {
        tmp,
        trust,
        key,
        root,
    }
}

impl Env {
    fn bundle(&self, version: &str) -> PathBuf {
        let dir = self.tmp.path().join(format!("bundle-{version}"));
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app"), format!("app {version}")).unwrap();
        sign_artifact(
            &dir,
            Kind::Bundle,
            Label::new(APP).unwrap(),
            Version::parse(version).unwrap(),
            Scope::Packages,
            &self.key,
            &format!("{APP} {version}"),
        )
        .unwrap();
        dir
    }
}

fn install(c: &mut Client, dir: &Path) -> Result<Value, ClientError> {
    c.call(
        "bundle.install",
        &Args::new().with("path", dir.to_str().unwrap()),
    )
}

fn code(r: Result<Value, ClientError>) -> ErrorCode {
    r.unwrap_err().remote_code().unwrap()
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    &v.as_map()
        .expect("a map")
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .expect("the field")
        .1
}

fn names(list: &Value) -> Vec<String> {
    field(list, "bundles")
        .as_array()
        .expect("an array")
        .iter()
        .map(|b| field(b, "name").as_text().unwrap().to_owned())
        .collect()
}

#[test]
fn serves_bundle_ops_to_the_channel_subject_and_keeps_them() {
    let e = env();
    let state = e.tmp.path().join("state");
    let run = e.tmp.path().join("run");
    let d = Daemon::spawn(Some(&state), &run, &e.trust);
    assert_eq!(d.ready(), "bundlemgrd: ready");
    assert!(run.join("bundlemgrd.sock").exists());

    let mut admin = d.connect("system:admin");
    let status = admin.call("status", &Args::new()).unwrap();
    assert_eq!(field(&status, "service").as_text(), Some("bundlemgrd"));
    assert_eq!(field(&status, "volatile"), &Value::Bool(false));

    let v1 = e.bundle("1.0");
    let got = install(&mut admin, &v1).unwrap();
    assert_eq!(field(&got, "name").as_text(), Some(APP));
    assert_eq!(field(&got, "version").as_text(), Some("1.0"));
    assert_eq!(
        field(&got, "signer_kid").as_text(),
        Some(e.root.kid().to_hex().as_str())
    );
    assert_eq!(
        names(&admin.call("bundle.list", &Args::new()).unwrap()),
        [APP]
    );
    assert_eq!(code(install(&mut admin, &v1)), ErrorCode::Ealready);
    let d = {
        let (st, err) = d.close();
        assert_eq!(st.code(), Some(0), "{err}");
        Daemon::spawn(Some(&state), &run, &e.trust)
    };
    assert_eq!(d.ready(), "bundlemgrd: ready");
    let mut admin = d.connect("system:admin");
    assert_eq!(
        names(&admin.call("bundle.list", &Args::new()).unwrap()),
        [APP],
        "the installed bundle survives a restart"
    );
    admin
        .call("bundle.uninstall", &Args::new().with("name", APP))
        .unwrap();
    assert!(names(&admin.call("bundle.list", &Args::new()).unwrap()).is_empty());
    let (st, err) = d.close();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_callers_without_the_capability_and_bad_arguments() {
    let e = env();
    let d = Daemon::spawn(None, &e.tmp.path().join("run"), &e.trust);
    assert_eq!(d.ready(), "bundlemgrd: ready (volatile)");
    let v1 = e.bundle("1.0");
    let mut selftest = d.connect("system:selftest");
    assert_eq!(code(install(&mut selftest, &v1)), ErrorCode::Eperm);
    let mut app = d.connect("app:com.example.alpha");
    assert_eq!(code(install(&mut app, &v1)), ErrorCode::Eperm);
    assert_eq!(
        code(app.call("bundle.uninstall", &Args::new().with("name", APP))),
        ErrorCode::Eperm
    );
    // Reads need no capability.
    assert!(names(&selftest.call("bundle.list", &Args::new()).unwrap()).is_empty());

    let mut admin = d.connect("system:admin");
    assert_eq!(
        code(admin.call("bundle.install", &Args::new().with("path", "relative/dir"))),
        ErrorCode::Einval
    );
    assert_eq!(
        code(
            admin.call(
                "bundle.install",
                &Args::new()
                    .with("path", v1.to_str().unwrap())
                    .with("app", "x")
            )
        ),
        ErrorCode::Einval
    );
    assert_eq!(
        code(admin.call("bundle.frob", &Args::new())),
        ErrorCode::Einval
    );
    assert_eq!(
        code(admin.call("bundle.uninstall", &Args::new().with("name", APP))),
        ErrorCode::Enoent
    );
    // A file changed after signing: an integrity failure (EIO); a bundle
    // signed by a key the store does not hold: EPERM.
    fs::write(v1.join("bin/app"), "evil").unwrap();
    assert_eq!(code(install(&mut admin, &v1)), ErrorCode::Eio);
    let stranger = Env {
        key: MinisignSecretKey::generate().unwrap(),
        ..env()
    };
    assert_eq!(
        code(install(&mut admin, &stranger.bundle("2.0"))),
        ErrorCode::Eperm
    );
    let (st, err) = d.close();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_missing_trust_dir_before_ready() {
    let e = env();
    let missing = e.tmp.path().join("no-such-trust");
    let d = Daemon::spawn(None, &e.tmp.path().join("run"), &missing);
    assert!(
        d.lines.recv_timeout(Duration::from_secs(5)).is_err(),
        "no marker may be printed"
    );
    let (st, err) = d.close();
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("fatal"), "{err}");
}
