//! The vault's fast path against the real daemons: keystored serves an
//! active session without asking keymintd while keymintd's session board
//! shows the stamp of its last answer, and every lock, logout, user
//! deletion and keymintd restart is seen by the very next vault operation
//! (docs/security/threat-model.md, "Sessions").

use crate::common::*;
use keymint::SessionStamp;
use nexus_core::{Coded, ErrorCode};
use rustix::process::{kill_process, Pid, Signal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::Client;

fn signal(p: &Proc, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(p.pid()).unwrap()).unwrap();
    kill_process(pid, sig).unwrap();
}

/// Proof that the fast path is in use: with keymintd stopped (alive, its
/// connections open, answering nothing), an active session still reads.
#[test]
fn an_active_session_reads_without_asking_keymintd() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = Client::connect(s.socket()).unwrap();
    let mut id = s.identityd.connect(ALPHA);
    let mut ks = s.keystored.connect(ALPHA);
    create(&mut admin, "alice", "pw-alice-Sekr1t");
    let alice = login(&mut id, "alice", "pw-alice-Sekr1t").unwrap();
    put(&mut ks, &alice, "token", b"VALUE").unwrap();
    assert_eq!(value(&get(&mut ks, &alice, "token").unwrap()), b"VALUE");

    let board = std::fs::read(s.dir.path().join("run/keymintd.sessions")).unwrap();
    assert!(SessionStamp::from_bytes(&board).is_some(), "{board:?}");

    signal(&s.keymintd, Signal::Stop);
    ks.set_timeout(Duration::from_secs(5));
    let got = get(&mut ks, &alice, "token");
    signal(&s.keymintd, Signal::Cont);
    assert_eq!(value(&got.unwrap()), b"VALUE");
}

/// One app reads alice's vault in a loop while alice locks her session:
/// no read that started after `session.lock` returned gets the value.
/// Then the same for logout, and for a keymintd that died.
#[test]
fn test_reject_vault_reads_that_start_after_lock_or_logout_returned() {
    let (mut s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = Client::connect(s.socket()).unwrap();
    let mut id = s.identityd.connect(ALPHA);
    create(&mut admin, "alice", "pw-alice-Sekr1t");

    for end in ["session.lock", "session.logout"] {
        let sid = login(&mut id, "alice", "pw-alice-Sekr1t").unwrap();
        let mut ks = s.keystored.connect(ALPHA);
        put(&mut ks, &sid, "token", b"VALUE").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // (start, finished, outcome) of every read.
        let reads = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (stop, reads, sid) = (Arc::clone(&stop), Arc::clone(&reads), sid.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let t0 = Instant::now();
                    let r = get(&mut ks, &sid, "token").map_err(|e| e.code());
                    reads.lock().unwrap().push((t0, r.map(|v| value(&v))));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        id.call(end, &a(&[("sid", &sid)])).unwrap();
        let ended = Instant::now();
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
        let reads = reads.lock().unwrap();
        let before = reads.iter().filter(|(t, _)| *t < ended).count();
        let after: Vec<_> = reads.iter().filter(|(t, _)| *t > ended).collect();
        assert!(
            before > 10 && after.len() > 10,
            "{before} / {}",
            after.len()
        );
        let want = if end == "session.lock" {
            ErrorCode::Elocked
        } else {
            ErrorCode::Eperm
        };
        for (_, r) in &after {
            assert_eq!(r, &Err(want), "a read after {end} returned");
        }
    }

    // keymintd killed and not yet back: EAGAIN, not the cached value.
    let sid = login(&mut id, "alice", "pw-alice-Sekr1t").unwrap();
    let mut ks = s.keystored.connect(ALPHA);
    put(&mut ks, &sid, "token", b"VALUE").unwrap();
    get(&mut ks, &sid, "token").unwrap();
    // Reaped: its end of every connection is closed, and the next read
    // must see that.
    s.keymintd.kill();
    let code = get(&mut ks, &sid, "token").unwrap_err().code();
    assert_eq!(code, ErrorCode::Eagain);
    // Back: a new run, every session locked.
    s.restart_keymintd();
    assert_eq!(
        get(&mut ks, &sid, "token").unwrap_err().code(),
        ErrorCode::Elocked
    );
}
