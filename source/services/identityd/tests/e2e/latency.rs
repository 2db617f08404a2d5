//! A measurement, not a test (ignored; run it by name, it asserts no
//! time): the latency of one real login with the production Argon2id
//! parameters, alone, while 16 connections of another caller guess fresh
//! user names as fast as identityd answers them, and while 16 callers
//! (one connection each) do.
//!
//! `cargo test -p keymintd -p keystored -p identityd --test e2e -- --ignored --nocapture login_latency`
//!
//! The binaries are the dev profile's, whose dependencies (argon2
//! included) are built optimised (`[profile.dev.package."*"]`), so the
//! Argon2id cost is the real one.

use crate::common::{a, create, login, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 8;

fn logins(s: &Stack) -> Vec<Duration> {
    let mut owner = s.identityd.connect(ALPHA);
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            let sid = login(&mut owner, "alice", "pw-alice").unwrap();
            let d = t.elapsed();
            owner.call("session.logout", &a(&[("sid", &sid)])).unwrap();
            d
        })
        .collect()
}

fn show(what: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: median {:.0} ms, min {:.0} ms, max {:.0} ms ({} logins)",
        ms(d[d.len() / 2]),
        ms(d[0]),
        ms(d[d.len() - 1]),
        d.len()
    );
}

#[test]
#[ignore]
fn login_latency_with_16_guessing_connections() {
    let (s, _) = Stack::start(&[]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    show("login alone", logins(&s));

    guessing(
        &s,
        "login with 16 guessing connections of one caller",
        |_| BETA.into(),
    );
    guessing(&s, "login with 16 guessing callers", |t| {
        format!("app:com.example.guess{t:02}")
    });
}

/// Logins of alice while 16 connections (the subject of connection `t`
/// is `subject(t)`) guess fresh names.
fn guessing(s: &Stack, what: &str, subject: impl Fn(usize) -> String) {
    let stop = Arc::new(AtomicBool::new(false));
    let (judged, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads = Vec::new();
    for t in 0..16 {
        let mut c = s.identityd.connect(&subject(t));
        let (stop, judged, refused) = (stop.clone(), judged.clone(), refused.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let e = login(&mut c, &format!("guess-{t}-{i}"), "guess").unwrap_err();
                match e.code() {
                    ErrorCode::Eagain => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        // An attacker retries at once; a short pause keeps
                        // this loop from measuring only the socket.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => {
                        judged.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    show(what, logins(s));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "  guesses meanwhile: {} judged (Argon2id ran), {} refused at once (EAGAIN)",
        judged.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
}
