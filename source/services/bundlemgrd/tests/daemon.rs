//! The bundlemgrd process over real sockets: the process contract (ready
//! only once serving, volatile said, control-channel EOF exits 0, a
//! missing trust directory stops it before ready) and every `bundle.*` op
//! with the caller's subject coming from the handed-over endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nexus_core::{ErrorCode, Label};
use nexus_daemon::testkit::{field, remote_code, Proc, WAIT};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, Version};
use wire::{Args, Client, ClientError, Value};

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

/// keymintd over the same state (volatile without one), for bundlemgrd's
/// state key and the trust store's key.
fn keymint(state: Option<&Path>, run: &Path) -> Proc {
    nexus_daemon::testkit::keymintd(state, &policy(), run)
}

/// Start bundlemgrd as nexus-init does (durable at `state`, else volatile),
/// with `km` as its keymintd (none for a start that must fail before it
/// would ask: handing an endpoint to an exited process races its exit).
fn spawn(state: Option<&Path>, run: &Path, trust: &Path, km: Option<&Proc>) -> Proc {
    let mut args: Vec<OsString> = match state {
        Some(s) => vec!["--state".into(), s.into()],
        None => vec!["--volatile".into()],
    };
    args.extend([
        "--policy".into(),
        policy().into(),
        "--run".into(),
        run.into(),
        "--trust-dir".into(),
        trust.into(),
    ]);
    let d = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_bundlemgrd")), args);
    if let Some(km) = km {
        d.link("keymintd", km, "system:bundlemgrd");
    }
    d
}

fn ready(d: &Proc) -> String {
    d.next_line(WAIT).expect("no ready line")
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
    let km = keymint(Some(&state), &run);
    let d = spawn(Some(&state), &run, &e.trust, Some(&km));
    assert_eq!(ready(&d), "bundlemgrd: ready");
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
    assert_eq!(remote_code(install(&mut admin, &v1)), ErrorCode::Ealready);
    let d = {
        let (st, err) = d.finish();
        assert_eq!(st.code(), Some(0), "{err}");
        spawn(Some(&state), &run, &e.trust, Some(&km))
    };
    assert_eq!(ready(&d), "bundlemgrd: ready");
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
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_callers_without_the_capability_and_bad_arguments() {
    let e = env();
    let km = keymint(None, &e.tmp.path().join("run"));
    let d = spawn(None, &e.tmp.path().join("run"), &e.trust, Some(&km));
    assert_eq!(ready(&d), "bundlemgrd: ready (volatile)");
    let v1 = e.bundle("1.0");
    let mut selftest = d.connect("system:selftest");
    assert_eq!(remote_code(install(&mut selftest, &v1)), ErrorCode::Eperm);
    let mut app = d.connect("app:com.example.alpha");
    assert_eq!(remote_code(install(&mut app, &v1)), ErrorCode::Eperm);
    assert_eq!(
        remote_code(app.call("bundle.uninstall", &Args::new().with("name", APP))),
        ErrorCode::Eperm
    );
    // Reads need no capability.
    assert!(names(&selftest.call("bundle.list", &Args::new()).unwrap()).is_empty());

    let mut admin = d.connect("system:admin");
    assert_eq!(
        remote_code(admin.call("bundle.install", &Args::new().with("path", "relative/dir"))),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(
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
        remote_code(admin.call("bundle.frob", &Args::new())),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("bundle.uninstall", &Args::new().with("name", APP))),
        ErrorCode::Enoent
    );
    // A file changed after signing: an integrity failure (EIO); a bundle
    // signed by a key the store does not hold: EPERM.
    fs::write(v1.join("bin/app"), "evil").unwrap();
    assert_eq!(remote_code(install(&mut admin, &v1)), ErrorCode::Eio);
    let stranger = Env {
        key: MinisignSecretKey::generate().unwrap(),
        ..env()
    };
    assert_eq!(
        remote_code(install(&mut admin, &stranger.bundle("2.0"))),
        ErrorCode::Eperm
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_missing_trust_dir_before_ready() {
    let e = env();
    let missing = e.tmp.path().join("no-such-trust");
    let d = spawn(None, &e.tmp.path().join("run"), &missing, None);
    assert!(
        d.next_line(Duration::from_secs(5)).is_none(),
        "no marker may be printed"
    );
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("fatal"), "{err}");
}
