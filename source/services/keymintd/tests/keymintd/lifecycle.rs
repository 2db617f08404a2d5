//! The process contract: ready only once serving, persistence of the
//! device secret, volatile mode, clean exits, fatal startup errors.

use crate::common::{Keymintd, Mode, KEYSTORED};
use keymint::{Algorithm, KeyIdentity, KeyOps};
use keymint_client::RemoteKeyMint;
use nexus_core::{AppId, Label};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use wire::Args;

fn expected_ready(volatile: bool) -> String {
    nexus_daemon::ready_line("keymintd", volatile, keymint::INSECURE_BUILD)
}

#[test]
fn ready_only_once_it_serves_and_eof_exits_zero() {
    let k = Keymintd::spawn(Mode::Volatile);
    // Handed over before ready: answered once keymintd serves.
    let mut early = k.connect(KEYSTORED);
    assert_eq!(k.ready(), expected_ready(true));
    early.call("km.device", &Args::new()).unwrap();
    early.call("status", &Args::new()).unwrap();
    // stdout carries markers only: serving requests prints nothing.
    assert_eq!(k.next_line(Duration::from_millis(200)), None);
    let (status, stderr) = k.close_control();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped (ControlClosed)"), "{stderr}");
}

#[test]
fn sigterm_exits_zero() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let pid = rustix::process::Pid::from_raw(i32::try_from(k.pid()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::Term).unwrap();
    let (status, stderr) = k.wait_exit();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped (Signal(15))"), "{stderr}");
}

fn device_id(k: &Keymintd) -> [u8; 32] {
    RemoteKeyMint::connect(k.single(KEYSTORED))
        .unwrap()
        .device_id()
}

#[test]
fn device_secret_persists_across_restarts() {
    let state = tempfile::tempdir().unwrap();
    let id = KeyIdentity {
        app: AppId::new("com.example.alpha").unwrap(),
        purpose: Label::new("test").unwrap(),
        name: Label::new("persist").unwrap(),
        version: 1,
        alg: Algorithm::Ed25519,
    };
    let k = Keymintd::spawn(Mode::Durable(state.path()));
    assert_eq!(k.ready(), expected_ready(false));
    let km = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    let first = km.device_id();
    let g = km.generate(&id).unwrap();
    drop(km);
    let (status, _) = k.close_control();
    assert_eq!(status.code(), Some(0));

    let secret = state.path().join("keymint/device-secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "device secret readable by others");
    let audit = state.path().join("audit");
    let mode = std::fs::metadata(&audit).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(audit.join("keymintd.jsonl").exists());

    let k = Keymintd::spawn(Mode::Durable(state.path()));
    assert_eq!(k.ready(), expected_ready(false));
    let km = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    assert_eq!(km.device_id(), first);
    // A key wrapped by the first run is usable by the second.
    let sig = km.sign(&id, &g.wrapped, b"after restart").unwrap();
    keymint::ed25519::verify(&g.public.unwrap(), b"after restart", &sig).unwrap();
}

#[cfg(not(feature = "insecure-deterministic"))]
#[test]
fn volatile_runs_do_not_share_a_device_secret() {
    let a = Keymintd::spawn(Mode::Volatile);
    assert_eq!(a.ready(), "keymintd: ready (volatile)");
    let b = Keymintd::spawn(Mode::Volatile);
    assert_eq!(b.ready(), "keymintd: ready (volatile)");
    assert_ne!(device_id(&a), device_id(&b));
}

#[cfg(feature = "insecure-deterministic")]
#[test]
fn insecure_build_says_so_everywhere() {
    let a = Keymintd::spawn(Mode::Volatile);
    assert_eq!(a.ready(), "keymintd: ready (volatile) (INSECURE)");
    let km = RemoteKeyMint::connect(a.single(KEYSTORED)).unwrap();
    assert!(km.is_insecure());
    // Deterministic: a second run derives the same device secret.
    let b = Keymintd::spawn(Mode::Volatile);
    b.ready();
    assert_eq!(device_id(&a), device_id(&b));
}

#[test]
fn test_reject_corrupt_device_secret_without_reset() {
    let state = tempfile::tempdir().unwrap();
    let k = Keymintd::spawn(Mode::Durable(state.path()));
    k.ready();
    k.close_control();
    let secret = state.path().join("keymint/device-secret");
    let mut bytes = std::fs::read(&secret).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&secret, &bytes).unwrap();

    let k = Keymintd::spawn(Mode::Durable(state.path()));
    assert_eq!(k.next_line(Duration::from_secs(5)), None, "no ready marker");
    let (status, stderr) = k.wait_exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("keymintd: fatal:"), "{stderr}");
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        bytes,
        "secret was replaced"
    );
}

#[test]
fn test_reject_bad_policy_and_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "version = 1\n[[subjects]]\nsubject = \"app:x\"\ncapabilities = [\"identity.trust.write\"]\n").unwrap();
    let k = Keymintd::spawn_with_policy(Mode::Volatile, &policy);
    assert_eq!(k.next_line(Duration::from_secs(5)), None, "no ready marker");
    let (status, stderr) = k.wait_exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot load the policy"), "{stderr}");

    // No public socket: without the control channel nothing could reach
    // it, so that is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_keymintd"))
        .arg("--volatile")
        .arg("--policy")
        .arg(crate::common::repo_policy())
        .arg("--run")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--control-stdin"));
}
