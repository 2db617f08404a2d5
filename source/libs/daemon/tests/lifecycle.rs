//! A daemon's life in-process: start (policy, state, audit), endpoints
//! from a real control channel (queued before the server exists), the
//! ready marker, a public socket with uid mapping, and stop on end of the
//! control channel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nexus_core::{Coded, ErrorCode, Subject};
use nexus_daemon::{Config, Daemon, DaemonError, Markers, Service, Spec, StopReason};
use statefs::StateKey;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use wire::handoff::send_endpoint;
use wire::{Args, CallContext, Client, Request, Value, WireError};
use zeroize::Zeroizing;

const SPEC: Spec = Spec {
    name: "testd",
    version: "9.9.9",
    public_socket: false,
    needs_trust_dir: false,
    upstreams: &[],
    owns: &["testd/**"],
};

fn repo_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml")
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    fn wait_for(&self, line: &str) {
        let t0 = Instant::now();
        while !self.text().lines().any(|l| l == line) {
            assert!(t0.elapsed() < Duration::from_secs(10), "no `{line}`");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn whoami(ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
    match req.op() {
        "whoami" => Ok(Value::Text(ctx.subject().to_string())),
        op => Err(WireError::unknown_op(op)),
    }
}

fn config(spec: &Spec, args: &[&str]) -> Config {
    Config::parse(spec, std::iter::once("testd").chain(args.iter().copied())).unwrap()
}

fn serve_endpoint(control: &UnixStream, subject: &str) -> Client {
    let (client, server) = UnixStream::pair().unwrap();
    let subject: Subject = subject.parse().unwrap();
    send_endpoint(control, "serve", &subject, server.as_fd()).unwrap();
    Client::from_stream(client)
}

#[test]
fn endpoints_before_ready_are_served_and_eof_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let run = dir.path().join("run");
    let cfg = config(
        &SPEC,
        &[
            "--state",
            state.to_str().unwrap(),
            "--policy",
            repo_policy().to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "--control-stdin",
        ],
    );
    let (supervisor, child) = UnixStream::pair().unwrap();
    let out = Buf::default();
    let d = Daemon::start_with(
        SPEC,
        cfg,
        Some(OwnedFd::from(child)),
        Markers::to_writer(Box::new(out.clone())),
    )
    .unwrap();
    // A daemon that does not get its key from keymintd attaches its root
    // itself (keymintd does, from its device secret).
    let report = d
        .context()
        .attach_state_root(StateKey::new(Zeroizing::new([5; 32])))
        .unwrap();
    assert_eq!(report.adopted, Some(0));
    // Sent before the server exists: queued, then served.
    let mut early = serve_endpoint(&supervisor, "system:keystored");
    thread::sleep(Duration::from_millis(100));
    assert_eq!(out.text(), "", "ready before serving");
    assert!(!d.context().is_volatile());
    let status = d.context().status(false);
    assert_eq!(status.service, "testd");
    assert_eq!(status.version, "9.9.9");
    assert!(!status.volatile);

    let daemon = thread::spawn(move || {
        d.serve(Service {
            handler: whoami,
            insecure: false,
        })
    });
    out.wait_for("testd: ready");
    let v = early.call("whoami", &Args::new()).unwrap();
    assert_eq!(v.into_text().unwrap(), "system:keystored");
    let mut late = serve_endpoint(&supervisor, "app:com.example.alpha");
    let v = late.call("whoami", &Args::new()).unwrap();
    assert_eq!(v.into_text().unwrap(), "app:com.example.alpha");

    let audit = state.join("audit");
    let mode = std::fs::metadata(&audit).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(audit.join("testd.jsonl").exists());

    drop(supervisor);
    let reason = daemon.join().unwrap().unwrap();
    assert_eq!(reason, StopReason::ControlClosed);
    assert_eq!(reason.exit_status(), 0);
    assert_eq!(out.text(), "testd: ready\n");
    assert!(early.call("whoami", &Args::new()).is_err());
    // A clean stop leaves a snapshot whose checkpoint is the log's end, and
    // an intact chain.
    assert!(state.join("root/testd.a").exists());
    let r = auditlog::verify::verify(&audit, "testd", &[]).unwrap();
    assert!(r.is_intact(), "{r:?}");
}

#[test]
fn test_reject_serving_durable_state_without_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &SPEC,
        &[
            "--state",
            dir.path().join("state").to_str().unwrap(),
            "--policy",
            repo_policy().to_str().unwrap(),
            "--run",
            dir.path().join("run").to_str().unwrap(),
            "--control-stdin",
        ],
    );
    let d = Daemon::start_with(SPEC, cfg, None, Markers::to_writer(Box::new(io::sink()))).unwrap();
    let e = d
        .serve(Service {
            handler: whoami,
            insecure: false,
        })
        .unwrap_err();
    assert!(matches!(e, DaemonError::StateRoot(_)), "{e}");
}

#[test]
fn public_socket_maps_uids_through_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = Spec {
        public_socket: true,
        ..SPEC
    };
    let cfg = config(
        &spec,
        &[
            "--volatile",
            "--policy",
            repo_policy().to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
        ],
    );
    let out = Buf::default();
    let d = Daemon::start_with(spec, cfg, None, Markers::to_writer(Box::new(out.clone()))).unwrap();
    let stop = d.context().shutdown().clone();
    assert!(d.context().is_volatile());
    let daemon = thread::spawn(move || {
        d.serve(Service {
            handler: whoami,
            insecure: true,
        })
    });
    out.wait_for("testd: ready (volatile) (INSECURE)");
    assert!(run.join("audit/testd.jsonl").exists());
    // A run directory the daemon creates is private.
    let mode = std::fs::metadata(&run).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let sock = run.join("testd.sock");
    let mut c = Client::connect(&sock).unwrap();
    let r = c.call("whoami", &Args::new());
    // The repository policy maps uid 0 to system:admin and nothing else.
    if rustix::process::getuid().is_root() {
        assert_eq!(r.unwrap().into_text().unwrap(), "system:admin");
    } else {
        assert_eq!(r.unwrap_err().code(), ErrorCode::Eperm);
    }
    stop.trigger(StopReason::Requested);
    assert_eq!(daemon.join().unwrap().unwrap(), StopReason::Requested);
    assert!(!sock.exists(), "socket file removed on stop");
}

#[test]
fn test_reject_unloadable_policy_without_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.toml");
    std::fs::write(&bad, "version = 2\n").unwrap();
    let run = dir.path().join("run");
    for policy in [bad.clone(), dir.path().join("absent.toml")] {
        let cfg = config(
            &SPEC,
            &[
                "--volatile",
                "--policy",
                policy.to_str().unwrap(),
                "--run",
                run.to_str().unwrap(),
                "--control-stdin",
            ],
        );
        let e = Daemon::start_with(SPEC, cfg, None, Markers::to_writer(Box::new(io::sink())))
            .unwrap_err();
        assert!(matches!(e, DaemonError::Policy { .. }), "{e}");
        assert!(e.to_string().contains("cannot load the policy"));
        assert_ne!(e.code(), ErrorCode::Eperm);
    }
    assert!(!run.exists(), "nothing created before the policy loaded");
}

#[test]
fn test_reject_unusable_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let cfg = config(
        &SPEC,
        &[
            "--state",
            file.to_str().unwrap(),
            "--policy",
            repo_policy().to_str().unwrap(),
            "--run",
            dir.path().join("run").to_str().unwrap(),
            "--control-stdin",
        ],
    );
    let e =
        Daemon::start_with(SPEC, cfg, None, Markers::to_writer(Box::new(io::sink()))).unwrap_err();
    assert!(matches!(e, DaemonError::State(_)), "{e}");
    assert_eq!(e.code(), ErrorCode::Eio);
}
