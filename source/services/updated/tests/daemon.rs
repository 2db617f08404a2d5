//! The updated process over real sockets: the process contract (ready
//! only once serving, volatile said, control-channel EOF exits 0, a
//! missing trust directory stops it before ready) and every `update.*` op
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

const OS: &str = updated::PRODUCT;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml")
}

/// keymintd over the same state (volatile without one), for updated's
/// state key and the trust store's key.
fn keymint(state: Option<&Path>, run: &Path) -> Proc {
    nexus_daemon::testkit::keymintd(state, &policy(), run)
}

/// Start updated as nexus-init does (durable at `state`, else volatile),
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
    let d = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_updated")), args);
    if let Some(km) = km {
        d.link("keymintd", km, "system:updated");
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
        &[Scope::Updates],
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
    fn update(&self, version: &str) -> PathBuf {
        let dir = self.tmp.path().join(format!("update-{version}"));
        fs::create_dir_all(dir.join("sbin")).unwrap();
        fs::write(dir.join("sbin/init"), format!("init {version}")).unwrap();
        sign_artifact(
            &dir,
            Kind::Update,
            Label::new(OS).unwrap(),
            Version::parse(version).unwrap(),
            Scope::Updates,
            &self.key,
            &format!("{OS} {version}"),
        )
        .unwrap();
        dir
    }
}

fn stage(c: &mut Client, dir: &Path) -> Result<Value, ClientError> {
    c.call(
        "update.stage",
        &Args::new().with("path", dir.to_str().unwrap()),
    )
}

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    field(v, name).as_text().unwrap()
}

#[test]
fn stages_commits_and_keeps_the_ab_state() {
    let e = env();
    let state = e.tmp.path().join("state");
    let run = e.tmp.path().join("run");
    let km = keymint(Some(&state), &run);
    let d = spawn(Some(&state), &run, &e.trust, Some(&km));
    assert_eq!(ready(&d), "updated: ready");
    assert!(run.join("updated.sock").exists());

    let mut admin = d.connect("system:admin");
    let status = admin.call("status", &Args::new()).unwrap();
    assert_eq!(text(&status, "service"), "updated");
    assert_eq!(field(&status, "volatile"), &Value::Bool(false));
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(text(&st, "active"), "a");
    assert_eq!(field(&st, "pending"), &Value::Null);

    let v1 = e.update("1.0");
    let staged = stage(&mut admin, &v1).unwrap();
    assert_eq!(text(&staged, "slot"), "b");
    assert_eq!(text(&staged, "version"), "1.0");
    assert_eq!(text(&staged, "signer_kid"), e.root.kid().to_hex());
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(text(&st, "pending"), "b");
    assert_eq!(text(field(&st, "versions"), "b"), "1.0");
    assert_eq!(text(field(&st, "versions"), "a"), env!("CARGO_PKG_VERSION"));
    assert_eq!(remote_code(stage(&mut admin, &v1)), ErrorCode::Ebusy);
    let committed = admin.call("update.commit", &Args::new()).unwrap();
    assert_eq!(text(&committed, "active"), "b");
    assert_eq!(text(&committed, "version"), "1.0");

    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
    let km = keymint(Some(&state), &run);
    let d = spawn(Some(&state), &run, &e.trust, Some(&km));
    assert_eq!(ready(&d), "updated: ready");
    let mut admin = d.connect("system:admin");
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(text(&st, "active"), "b", "the commit survives a restart");
    assert_eq!(remote_code(stage(&mut admin, &v1)), ErrorCode::Ealready);
    let v2 = e.update("2.0");
    assert_eq!(text(&stage(&mut admin, &v2).unwrap(), "slot"), "a");
    admin.call("update.rollback", &Args::new()).unwrap();
    let st = admin.call("update.status", &Args::new()).unwrap();
    assert_eq!(field(&st, "pending"), &Value::Null);
    let (st, err) = d.finish();
    assert_eq!(st.code(), Some(0), "{err}");
}

#[test]
fn test_reject_callers_without_the_capability_and_bad_arguments() {
    let e = env();
    let km = keymint(None, &e.tmp.path().join("run"));
    let d = spawn(None, &e.tmp.path().join("run"), &e.trust, Some(&km));
    assert_eq!(ready(&d), "updated: ready (volatile)");
    let v1 = e.update("1.0");
    let mut selftest = d.connect("system:selftest");
    assert_eq!(remote_code(stage(&mut selftest, &v1)), ErrorCode::Eperm);
    assert_eq!(
        remote_code(selftest.call("update.commit", &Args::new())),
        ErrorCode::Eperm
    );
    let mut app = d.connect("app:com.example.alpha");
    assert_eq!(remote_code(stage(&mut app, &v1)), ErrorCode::Eperm);
    // Reads need no capability.
    assert_eq!(
        text(&app.call("update.status", &Args::new()).unwrap(), "active"),
        "a"
    );
    let mut admin = d.connect("system:admin");
    assert_eq!(
        remote_code(admin.call("update.stage", &Args::new().with("path", "rel"))),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("update.commit", &Args::new().with("force", true))),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("update.frob", &Args::new())),
        ErrorCode::Einval
    );
    assert_eq!(
        remote_code(admin.call("update.rollback", &Args::new())),
        ErrorCode::Enoent
    );
    assert_eq!(
        remote_code(admin.call("update.commit", &Args::new())),
        ErrorCode::Enoent
    );
    // Older than the running image: a downgrade, refused unless forced.
    let old = e.update("0.0.1");
    assert_eq!(remote_code(stage(&mut admin, &old)), ErrorCode::Eperm);
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
