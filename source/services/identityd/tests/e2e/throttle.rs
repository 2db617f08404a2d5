//! Fair share of the password checks: failed attempts are limited per
//! caller as well as per (user, caller), so a guessing app neither locks
//! the owner's app out of the user nor sprays fresh names without limit;
//! each caller has at most two checks in flight, served least recently
//! served caller first, so 16 guessing connections cannot starve another
//! caller's login.

use crate::common::{a, create, login, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};
use std::sync::{Arc, Barrier};

#[test]
fn test_reject_guessing_caller_without_locking_the_owner_out() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    let mut attacker = s.identityd.connect(BETA);
    let mut throttled = false;
    for i in 0..10 {
        let e = login(&mut attacker, "alice", &format!("guess-{i}")).unwrap_err();
        match e.code() {
            ErrorCode::Eperm => {}
            ErrorCode::Eagain => {
                throttled = true;
                break;
            }
            other => panic!("{other:?}: {e}"),
        }
    }
    assert!(throttled, "the guessing caller was never throttled");
    // The owner's app logs in at once, and its own failures count apart.
    let mut owner = s.identityd.connect(ALPHA);
    let sid = login(&mut owner, "alice", "pw-alice").unwrap();
    owner.call("session.logout", &a(&[("sid", &sid)])).unwrap();
    // The attacker stays throttled, even with the right password.
    let e = login(&mut attacker, "alice", "pw-alice").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
}

#[test]
fn test_reject_caller_guessing_fresh_names_with_eagain() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    let mut attacker = s.identityd.connect(BETA);
    let mut refused = None;
    for i in 0..40 {
        let e = login(&mut attacker, &format!("fresh-{i}"), "guess").unwrap_err();
        match e.code() {
            ErrorCode::Eperm => {}
            ErrorCode::Eagain => {
                refused = Some(i);
                break;
            }
            other => panic!("{other:?}: {e}"),
        }
    }
    assert!(refused.is_some(), "40 fresh names and never EAGAIN");
    // Fresh names do not help either, and the owner still logs in.
    let e = login(&mut attacker, "fresh-x", "guess").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
    let mut owner = s.identityd.connect(ALPHA);
    login(&mut owner, "alice", "pw-alice").unwrap();
}

/// Production Argon2id (tens to hundreds of ms per check) so that the
/// guesses really overlap: 16 connections of one caller get at most two
/// checks in flight (the rest `EAGAIN` at once; a little slack for a
/// thread that a loaded machine starts after the first check ended), and
/// another caller's login waits for at most the check already running.
#[test]
fn test_reject_parallel_guesses_beyond_the_callers_queue_with_eagain() {
    let (s, _) = Stack::start(&[]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    let n = 16;
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut threads = Vec::new();
    for i in 0..n {
        let mut c = s.identityd.connect(BETA);
        let barrier = Arc::clone(&barrier);
        threads.push(std::thread::spawn(move || {
            barrier.wait();
            login(&mut c, &format!("fresh-{i}"), "guess").unwrap_err()
        }));
    }
    barrier.wait();
    // Let the guesses queue up, then log in as another caller.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = s.audit().lines().count();
    let mut owner = s.identityd.connect(ALPHA);
    login(&mut owner, "alice", "pw-alice").unwrap();
    let audit = s.audit();
    let lines: Vec<&str> = audit.lines().skip(before).collect();
    let ours = lines
        .iter()
        .position(|l| {
            l.contains(r#""subject":"app:com.example.alpha","capability":"session.login""#)
        })
        .unwrap();
    let guesses_first = lines[..ours]
        .iter()
        .filter(|l| l.contains(r#""reason":"password""#))
        .count();
    let errors: Vec<wire::ClientError> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = errors
        .iter()
        .filter(|e| e.code() == ErrorCode::Eagain)
        .count();
    assert!(
        busy >= n - 4,
        "{busy} of {n} guesses refused at once: {:?}",
        errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
    );
    assert!(
        guesses_first <= 2,
        "{guesses_first} guesses were judged before the other caller's login: {lines:#?}"
    );
}
