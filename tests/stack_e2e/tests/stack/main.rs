//! The whole stack end to end: the real nexus-init with the shipped
//! manifest and policy supervising the real keymintd, keystored,
//! identityd, attestd, bundlemgrd and updated; the test is a client on
//! their public sockets (as uid 0, which the shipped policy maps to
//! `system:admin`) through nexus-keychain.
//!
//! What it proves: keystored killed with SIGKILL is restarted by init
//! (`init: restart keystored (status signal 9)`, then `init: up
//! keystored`) and nothing else is; every write keystored acknowledged
//! before it died is still there afterwards (the key signs with the same
//! private key, its old signature verifies, the vault entry reads back);
//! a client's next request — even one that must not be retried — goes
//! over a new connection; the user's session survives (keymintd, which
//! holds it, was not killed); attestd, which reaches keystored only
//! through the endpoint init handed it, works again through the
//! re-issued one; SIGTERM stops everything and init exits 0.
//!
//! Run: `cargo build --bins && cargo test -p stack_e2e -- --nocapture`
//! (the timings are printed on stderr). See `harness.rs` for where the
//! binaries come from.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crash_loop;
mod harness;
mod procs;
mod rollback;

use ed25519_dalek::{Signature, VerifyingKey};
use harness::{must, Stack, BOOT_WAIT, DAEMONS, WAIT};
use nexus_keychain::{CustomClaims, DeviceKey, KeyAlg, Keychain, Kid, Label, SessionState, UserId};
use rustix::process::Signal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USER: &str = "stack-e2e";
// Not a secret: a throwaway user in a temporary state directory.
const PASSWORD: &str = "stack e2e password, only for this test";
const PURPOSE: &str = "stack-e2e";
const KEY: &str = "signer";
const MSG: &[u8] = b"signed before keystored was killed";
const ENTRY: &str = "before-kill";
const VALUE: &[u8] = b"acknowledged before keystored was killed";

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

/// Check `sig` over `msg` here, with the public key keystored returned at
/// creation, independently of the services.
fn verify_locally(public: &VerifyingKey, msg: &[u8], sig: &[u8]) {
    let sig = must(Signature::from_slice(sig), "signature shape");
    must(public.verify_strict(msg, &sig), "local signature check");
}

/// An attestation token for the test's key, verified here against the
/// device key attestd publishes.
fn attest(kc: &Keychain, device: &DeviceKey, key_kid: &Kid, nonce: &[u8]) {
    let token = must(
        kc.attest(&label(PURPOSE), &label(KEY), nonce, &CustomClaims::new()),
        "attest",
    );
    assert_eq!(
        token.device_kid, device.kid,
        "attest named another device key"
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let verified = must(
        eat::verify_token(&token.token, &device.public_key, nonce, now.as_secs()),
        "verify the token",
    );
    assert_eq!(verified.device_kid, device.kid);
    assert_eq!(&verified.attested_kid, key_kid, "token attests another key");
    assert_eq!(
        verified.claims.app_id.as_str(),
        "system.admin",
        "admin's namespace"
    );
}

#[test]
fn killed_keystored_is_restarted_and_clients_keep_acknowledged_writes() {
    let t0 = Instant::now();
    let mut stack = Stack::start();
    let (_, ready) = stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    let boot = ready - t0;
    let before = stack.daemons();
    let run = stack.run_dir();
    let kc = Keychain::connect(&run);

    // Acknowledged writes: a user, a session, a key, a vault entry.
    let user = UserId::new(USER).unwrap();
    must(kc.user_create(&user, PASSWORD), "user.create");
    let session = must(kc.login(&user, PASSWORD), "session.login");
    assert_eq!(session.state, SessionState::Active);
    let sid = session.sid;
    let created = must(
        kc.create_key(&label(PURPOSE), &label(KEY), KeyAlg::Ed25519),
        "key.create",
    );
    let kid = created.kid.expect("an Ed25519 key has a kid");
    let public: [u8; 32] = created
        .public_key
        .expect("a public key")
        .try_into()
        .unwrap();
    let public = must(VerifyingKey::from_bytes(&public), "public key");
    let signed = must(kc.sign(&label(PURPOSE), &label(KEY), MSG), "key.sign");
    assert_eq!(signed.kid, kid);
    verify_locally(&public, MSG, &signed.sig);
    let warnings = must(kc.put(&sid, ENTRY, VALUE), "vault.put");
    assert!(warnings.is_empty(), "{warnings:?}");
    let device = must(kc.device_key(), "attest.device_key");
    attest(&kc, &device, &kid, b"nonce before the kill");

    // Kill keystored; init must notice and bring it back.
    let old = before["keystored"].clone();
    harness::signal(old.pid, Signal::Kill);
    let killed = Instant::now();
    // A public-socket client asking while keystored is down finds its
    // connection dead and the socket refusing (nothing listens until the
    // restart); having been connected, it waits (bounded) for the service
    // to come back instead of failing. It asks once init has reaped the
    // killed process, so that every thread of it is gone: a request caught
    // by the dying process is "lost after sending", a case the wire crate's
    // own tests cover (idempotent requests are resent, bounded).
    let gone_by = Instant::now() + WAIT;
    while !procs::reaped(&old) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(2));
    }
    let during = must(
        kc.sign(&label(PURPOSE), &label(KEY), MSG),
        "key.sign while keystored is down",
    );
    assert_eq!(during.sig, signed.sig);
    let signed_during = killed.elapsed();
    // attestd, asked next, reaches keystored through the endpoint init
    // re-issued to it.
    attest(&kc, &device, &kid, b"nonce while keystored is down");
    let attested = killed.elapsed();
    let (line, restart_at) = stack.expect("init: restart keystored", WAIT, |l| {
        l.starts_with("init: restart ")
    });
    assert_eq!(line, "init: restart keystored (status signal 9)");
    let (up, up_at) = stack.expect("init: up keystored", WAIT, |l| l.starts_with("init: up "));
    assert_eq!(up, "init: up keystored");
    let (to_restart, to_up) = (restart_at - killed, up_at - killed);

    // A new keystored under the same init; nothing else was restarted.
    let after = stack.daemons();
    assert!(!procs::still_running(&old), "the killed keystored runs");
    assert!(!after["keystored"].same_process(&old));
    for name in DAEMONS.iter().filter(|&&n| n != "keystored") {
        assert!(
            after[name].same_process(&before[name]),
            "{name} was restarted too: {:?} then {:?}",
            before[name],
            after[name]
        );
    }

    // The first request after the restart must not be retried by the
    // client; it succeeds only if the client notices its connection died
    // and connects anew *before* sending.
    must(
        kc.put(&sid, "after-restart", b"written after"),
        "vault.put after restart",
    );
    let recovered = killed.elapsed();

    // keymintd holds unsealed sessions and was not killed: the session
    // survives without a new login, and identityd still reports it.
    let status = must(kc.session_status(&sid), "session.status");
    assert_eq!(status.state, SessionState::Active);
    assert_eq!(status.user, user);
    let value = must(kc.get(&sid, ENTRY), "vault.get after restart");
    assert_eq!(
        value.expose(),
        VALUE,
        "the acknowledged vault entry changed"
    );

    // The key: Ed25519 is deterministic, so the same message signed again
    // gives the same bytes only with the same private key; the old
    // signature verifies through the service and here.
    let again = must(
        kc.sign(&label(PURPOSE), &label(KEY), MSG),
        "key.sign after restart",
    );
    assert_eq!((again.kid, again.version), (kid, signed.version));
    assert_eq!(again.sig, signed.sig, "signed with another private key");
    let verified = must(
        kc.verify(&label(PURPOSE), &label(KEY), MSG, &signed.sig, None, None),
        "key.verify after restart",
    );
    assert_eq!((verified.kid, verified.version), (kid, signed.version));
    let fresh_msg = b"signed after keystored came back";
    let fresh_sig = must(kc.sign(&label(PURPOSE), &label(KEY), fresh_msg), "key.sign");
    verify_locally(&public, fresh_msg, &fresh_sig.sig);

    // New writes work, and a new client over the same sockets sees all of
    // them.
    let second = must(
        kc.create_key(&label(PURPOSE), &label("signer-2"), KeyAlg::Ed25519),
        "key.create after restart",
    );
    assert_ne!(second.kid, Some(kid));
    let other = Keychain::connect(&run);
    let value = must(other.get(&sid, "after-restart"), "vault.get, new client");
    assert_eq!(value.expose(), b"written after");
    let mut names = must(other.list(&sid), "vault.list, new client");
    names.sort();
    assert_eq!(names, ["after-restart", ENTRY]);
    let keys = must(other.list_keys(None), "key.list, new client");
    for name in [KEY, "signer-2"] {
        assert!(
            keys.iter()
                .any(|k| k.purpose.as_str() == PURPOSE && k.name.as_str() == name),
            "key {name} missing: {keys:?}"
        );
    }

    // attestd reaches keystored only through the endpoint init re-issued
    // when keystored restarted: a token now needs that endpoint.
    assert_eq!(must(kc.device_key(), "attest.device_key"), device);
    attest(&kc, &device, &kid, b"nonce after the kill");
    let restarts: Vec<String> = stack
        .stdout()
        .into_iter()
        .filter(|l| l.starts_with("init: restart ") || l.starts_with("init: failed "))
        .collect();
    assert_eq!(restarts, [line]);

    // SIGTERM: everything stops in order and init exits 0.
    let running: Vec<_> = stack.daemons().into_values().collect();
    let stop = Instant::now();
    stack.signal(Signal::Term);
    let status = stack.wait_exit(WAIT);
    let stopped = stop.elapsed();
    assert_eq!(status.code(), Some(0), "init's exit: {status}");
    let out = stack.stdout();
    for want in [
        "init: SIGTERM, shutting down",
        "init: shutdown",
        "init: stopped",
    ] {
        assert!(out.iter().any(|l| l == want), "no {want:?}");
    }
    let stuck: Vec<String> = stack
        .stderr()
        .into_iter()
        .filter(|l| l.contains("did not stop within"))
        .collect();
    assert!(stuck.is_empty(), "{stuck:?}");
    let left: Vec<_> = running.iter().filter(|p| procs::still_running(p)).collect();
    assert!(
        left.is_empty(),
        "still running after init exited: {left:#?}"
    );

    eprintln!(
        "stack_e2e: boot to `init: ready` {boot:?}; SIGKILL to `init: restart` {to_restart:?}, \
         to `init: up keystored` {to_up:?}, to first write acknowledged {recovered:?}; sign asked at the kill answered after {signed_during:?}, \
         attest after {attested:?}; \
         SIGTERM to exit {stopped:?}; total {:?}",
        t0.elapsed()
    );
}
