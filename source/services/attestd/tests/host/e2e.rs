//! The real attestd binary, started as nexus-init starts it: a control
//! channel on stdin carrying the `keystored` upstream endpoint and `serve`
//! endpoints with their subjects; markers read from stdout. keystored is
//! the in-test stand-in (fake_keystored.rs) over a real keystore and
//! keymint, since only the documented ops matter to attestd.

use crate::common::*;
use crate::fake_keystored::{FakeKeystored, Tamper};
use nexus_daemon::testkit::{field, Proc};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use wire::{Args, Client, Value};

/// Start attestd with `--state <dir>/attestd --policy … --run …
/// --control-stdin` and hand it `keystored` (served by `fake`'s stack) and
/// `keymintd` (a real one, for its state key).
fn start(dir: &Path, stack: &Stack, tamper: Tamper) -> (Proc, FakeKeystored, Proc) {
    let uid = std::fs::metadata(dir).unwrap().uid();
    let policy = format!("{POLICY}\n[[uid_map]]\nuid = {uid}\nsubject = \"system:admin\"\n");
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    let d = Proc::spawn(
        Path::new(env!("CARGO_BIN_EXE_attestd")),
        [
            OsString::from("--state"),
            dir.join("attestd").into(),
            "--policy".into(),
            dir.join("policy.toml").into(),
            "--run".into(),
            dir.join("run").into(),
        ],
    );
    let (fake, keystored) = FakeKeystored::start(stack, tamper);
    d.hand_stream("keystored", "system:keystored", &keystored);
    let km = nexus_daemon::testkit::keymintd(
        Some(&dir.join("attestd")),
        &dir.join("policy.toml"),
        &dir.join("run"),
    );
    d.link("keymintd", &km, "system:attestd");
    (d, fake, km)
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

    let (mut d, fake, _km) = start(dir.path(), &stack, Tamper::None);
    d.wait_for_exact("attestd: ready");
    // Ready came after the device key was created and a test token signed.
    let calls = fake.calls();
    assert!(
        calls.starts_with(&["device.info".into(), "key.list".into(), "key.create".into()]),
        "{calls:?}"
    );
    assert!(calls.contains(&"key.sign".to_owned()), "{calls:?}");

    // An app over a handed-over endpoint: its subject comes from the
    // supervisor, not from anything it sends.
    let mut alpha = d.connect(ALPHA);
    let args = Args::new()
        .with("purpose", "sign")
        .with("name", "k")
        .with("nonce", Value::Bytes(NONCE.to_vec()));
    let reply = alpha.call("attest", &args).unwrap();
    d.wait_for_exact(&format!("attest: ok app=com.example.alpha key={kid}"));
    let token = field(&reply, "token").as_bytes().unwrap().clone();
    let dk = alpha.call("attest.device_key", &Args::new()).unwrap();
    let device_pub = field(&dk, "public_key").as_bytes().unwrap().clone();
    let now = nexus_core::Clock::now_unix(&nexus_core::SystemClock);
    let v = eat::verify_token(&token, &device_pub, NONCE, now).unwrap();
    assert_eq!(v.claims.app_id.as_str(), "com.example.alpha");
    assert_eq!(v.attested_kid, kid);

    // gamma lacks identity.attest: EPERM, no marker.
    let mut gamma = d.connect(GAMMA);
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

    let status = d.close_control();
    let seen = d.stdout();
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
        "\"subject\":\"system:admin\",\"capability\":\"identity.key.rotate\",\"target\":\"system.attestd/device-attest/device\",\"decision\":\"allow\"",
    ] {
        assert!(audit.contains(want), "missing {want} in:\n{audit}");
    }

    // A second start over the same keystore: same (rotated) device key, no
    // second create.
    let (mut d, fake, _km) = start(dir.path(), &stack, Tamper::None);
    d.wait_for_exact("attestd: ready");
    assert!(!fake.calls().contains(&"key.create".to_owned()));
    let dk2 = d
        .connect(ALPHA)
        .call("attest.device_key", &Args::new())
        .unwrap();
    assert_eq!(field(&dk2, "kid"), field(&rotated, "kid"));
    let status = d.close_control();
    assert!(status.success());
}

#[test]
fn test_reject_ready_when_the_self_test_fails_with_exit_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(&dir.path().join("keystore"), POLICY);
    // keystored signs with a key other than the device key: the self-test
    // token cannot verify, so attestd must never say ready.
    let (mut d, _fake, _km) = start(dir.path(), &stack, Tamper::ForeignSignature);
    let status = d.wait_exit();
    let seen = d.stdout();
    assert_eq!(status.code(), Some(1), "{seen:?}");
    assert!(
        !seen.iter().any(|l| l.starts_with("attestd: ready")),
        "{seen:?}"
    );
}
