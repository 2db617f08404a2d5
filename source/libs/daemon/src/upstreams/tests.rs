//! The pool over real socketpairs and real wire servers: calls run at once
//! on as many clients as the pool holds, dead clients go on arrival and
//! never shadow live ones, waits are bounded and no waiter is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use nexus_core::Subject;
use std::io::Read;
use std::sync::mpsc;
use std::thread;
use wire::{CallContext, Request, Server, ServerConfig, WireError};

/// Calls in the `gate` op now, and how many must be reached.
#[derive(Default)]
struct Gate {
    inside: Mutex<usize>,
    changed: Condvar,
}

/// A server answering `whoami` with `tag`, `slow` after 300 ms, and `gate`
/// only once `n` `gate` calls are inside it at the same time (EBUSY if
/// that never happens within 20 s).
fn server(tag: &'static str, n: usize) -> Server {
    let gate = Arc::new(Gate::default());
    let handler = move |_: &CallContext, req: &Request| -> Result<Value, WireError> {
        match req.op() {
            "whoami" => Ok(Value::Text(tag.to_owned())),
            "slow" => {
                thread::sleep(Duration::from_millis(300));
                Ok(Value::Text(tag.to_owned()))
            }
            "gate" => {
                let mut inside = gate.inside.lock().unwrap();
                *inside += 1;
                gate.changed.notify_all();
                let (inside, t) = gate
                    .changed
                    .wait_timeout_while(inside, Duration::from_secs(20), |i| *i < n)
                    .unwrap();
                drop(inside);
                if t.timed_out() {
                    return Err(WireError::new(ErrorCode::Ebusy, "calls ran one by one"));
                }
                Ok(Value::Text(tag.to_owned()))
            }
            op => Err(WireError::unknown_op(op)),
        }
    };
    Server::new(handler, ServerConfig::default())
}

fn endpoint(server: &Server) -> UnixStream {
    let (client, srv) = UnixStream::pair().unwrap();
    let subject: Subject = "system:keystored".parse().unwrap();
    server.add_connection(srv, subject).unwrap();
    client
}

/// An endpoint whose peer reads one request, says so on `arrived`, and
/// hangs up without a reply when `die` is sent (or dropped): a server
/// killed during the call.
fn doomed_endpoint(arrived: mpsc::Sender<()>, die: mpsc::Receiver<()>) -> UnixStream {
    let (client, mut peer) = UnixStream::pair().unwrap();
    thread::spawn(move || {
        let mut len = [0u8; 4];
        if peer.read_exact(&mut len).is_ok() {
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            peer.read_exact(&mut body).unwrap();
            let _ = arrived.send(());
            let _ = die.recv();
        }
        drop(peer);
    });
    client
}

fn ups(wait_ms: u64) -> Upstreams {
    Upstreams::new(UpstreamConfig {
        wait: Duration::from_millis(wait_ms),
        call_timeout: Duration::from_secs(30),
    })
}

fn call(u: &Upstreams, op: &str) -> Result<String, UpstreamError> {
    u.call("svc", op, &Args::new())
        .map(|v| v.into_text().unwrap())
}

/// (idle, lent) clients of `svc`.
fn counts(u: &Upstreams) -> (usize, usize) {
    let t = u.table();
    let p = t.services.get("svc").unwrap();
    (p.idle(), p.lent())
}

#[test]
fn calls_run_at_once_on_every_client_of_the_pool() {
    const N: usize = 4;
    let u = ups(30_000);
    let s = server("a", N);
    for _ in 0..N {
        u.replace("svc", endpoint(&s));
    }
    // Each `gate` call returns only once N of them are inside the server
    // together: this passes only if N calls are out on N clients at once.
    let callers: Vec<_> = (0..N)
        .map(|_| {
            let u = u.clone();
            thread::spawn(move || call(&u, "gate"))
        })
        .collect();
    for c in callers {
        assert_eq!(c.join().unwrap().unwrap(), "a");
    }
    assert_eq!(counts(&u), (N, 0));
    s.shutdown();
}

#[test]
fn more_callers_than_clients_all_get_through() {
    // Two clients, eight threads of twenty calls: every waiter is woken in
    // its turn (one per client given back), none sleeps out its wait.
    let u = ups(20_000);
    let s = server("a", 1);
    u.replace("svc", endpoint(&s));
    u.replace("svc", endpoint(&s));
    let t0 = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let u = u.clone();
            thread::spawn(move || {
                for _ in 0..20 {
                    assert_eq!(call(&u, "whoami").unwrap(), "a");
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    // Far below the 20 s a lost waiter would sleep, even on a loaded
    // machine.
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(counts(&u), (2, 0));
    s.shutdown();
}

#[test]
fn an_arriving_endpoint_drops_the_dead_clients() {
    let u = ups(3000);
    let old = server("old", 1);
    for _ in 0..3 {
        u.replace("svc", endpoint(&old));
    }
    assert_eq!(counts(&u), (3, 0));
    old.shutdown();
    let new = server("new", 1);
    u.replace("svc", endpoint(&new));
    assert_eq!(counts(&u), (1, 0), "the three dead clients are gone");
    for _ in 0..5 {
        assert_eq!(call(&u, "whoami").unwrap(), "new");
    }
    new.shutdown();
}

#[test]
fn test_reject_call_when_every_client_is_dead_at_once_with_eagain() {
    let u = ups(5000);
    let s = server("a", 1);
    for _ in 0..3 {
        u.replace("svc", endpoint(&s));
    }
    s.shutdown();
    let t0 = Instant::now();
    let e = call(&u, "whoami").unwrap_err();
    assert!(
        matches!(e, UpstreamError::Unavailable(ref n) if n == "svc"),
        "{e}"
    );
    assert_eq!(e.code(), ErrorCode::Eagain);
    // At once: not after the 5 s wait for a lent client.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(counts(&u), (0, 0));
    assert!(!u.is_connected("svc"));
}

#[test]
fn test_reject_call_with_ebusy_when_every_client_stays_lent() {
    let u = ups(100);
    let s = server("a", 1);
    u.replace("svc", endpoint(&s));
    u.replace("svc", endpoint(&s));
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let u = u.clone();
            thread::spawn(move || call(&u, "slow"))
        })
        .collect();
    // Both clients lent.
    let until = Instant::now() + Duration::from_secs(10);
    while counts(&u).1 < 2 {
        assert!(Instant::now() < until);
        thread::sleep(Duration::from_millis(5));
    }
    let e = call(&u, "whoami").unwrap_err();
    assert!(matches!(e, UpstreamError::Busy(_)), "{e}");
    assert_eq!(e.code(), ErrorCode::Ebusy);
    for c in slow {
        assert_eq!(c.join().unwrap().unwrap(), "a");
    }
    assert_eq!(call(&u, "whoami").unwrap(), "a");
    s.shutdown();
}

#[test]
fn a_call_in_flight_during_a_restart_never_shadows_the_new_endpoints() {
    let u = ups(10_000);
    // The old server has two lanes; a call is in flight on each.
    let (arrived_tx, arrived) = mpsc::channel();
    let (die_a, die_a_rx) = mpsc::channel();
    let (die_b, die_b_rx) = mpsc::channel();
    u.replace("svc", doomed_endpoint(arrived_tx.clone(), die_a_rx));
    u.replace("svc", doomed_endpoint(arrived_tx, die_b_rx));
    let plain = {
        let u = u.clone();
        thread::spawn(move || call(&u, "whoami"))
    };
    let idempotent = {
        let u = u.clone();
        thread::spawn(move || {
            u.call_idempotent("svc", "whoami", &Args::new())
                .map(|v| v.into_text().unwrap())
        })
    };
    for _ in 0..2 {
        arrived.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    assert_eq!(counts(&u), (0, 2));
    // The server is restarted: its two new lanes arrive while both calls
    // still hold the old clients, and serve at once.
    let new = server("new", 1);
    u.replace("svc", endpoint(&new));
    u.replace("svc", endpoint(&new));
    assert_eq!(call(&u, "whoami").unwrap(), "new");
    // The old server's death reaches the calls in flight.
    drop((die_a, die_b));
    let e = plain.join().unwrap().unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
    assert!(matches!(e, UpstreamError::Transport { .. }), "{e}");
    assert_eq!(idempotent.join().unwrap().unwrap(), "new", "retried once");
    // The dead clients were dropped on their way back, not pooled.
    assert_eq!(counts(&u), (2, 0));
    for _ in 0..10 {
        assert_eq!(call(&u, "whoami").unwrap(), "new");
    }
    new.shutdown();
}

#[test]
fn waiters_are_told_at_once_when_the_last_lent_client_dies() {
    let u = ups(20_000);
    let (arrived_tx, arrived) = mpsc::channel();
    let (die, die_rx) = mpsc::channel::<()>();
    u.replace("svc", doomed_endpoint(arrived_tx, die_rx));
    let inflight = {
        let u = u.clone();
        thread::spawn(move || call(&u, "whoami"))
    };
    arrived.recv_timeout(Duration::from_secs(10)).unwrap();
    // Three callers wait for the only client.
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let u = u.clone();
            thread::spawn(move || call(&u, "whoami"))
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    drop(die);
    assert_eq!(
        inflight.join().unwrap().unwrap_err().code(),
        ErrorCode::Eagain
    );
    for w in waiters {
        let e = w.join().unwrap().unwrap_err();
        assert!(matches!(e, UpstreamError::Unavailable(_)), "{e}");
    }
    // Every one of them, not after its 20 s wait.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(!u.is_connected("svc"));
}

#[test]
fn connected_while_any_client_is_usable_lent_or_idle() {
    let u = ups(1000);
    assert!(!u.is_connected("svc"));
    let s = server("a", 1);
    u.replace("svc", endpoint(&s));
    assert!(u.is_connected("svc"));
    assert!(u.wait_connected("svc", Instant::now()));
    let c = u.borrow("svc").unwrap();
    assert!(u.is_connected("svc"), "a lent client counts");
    u.give_back("svc", c);
    s.shutdown();
    assert!(!u.is_connected("svc"));
    assert!(!u.wait_connected("svc", Instant::now() + Duration::from_millis(50)));
}

#[test]
fn close_wakes_every_waiter_of_every_service() {
    let u = ups(20_000);
    let s = server("a", 1);
    u.replace("svc", endpoint(&s));
    let held = u.borrow("svc").unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let u = u.clone();
            thread::spawn(move || call(&u, "whoami"))
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    u.close();
    for w in waiters {
        assert!(matches!(w.join().unwrap(), Err(UpstreamError::Closed)));
    }
    assert!(t0.elapsed() < Duration::from_secs(10));
    // Given back after close: dropped, nothing is pooled again.
    u.give_back("svc", held);
    assert!(u.table().services.is_empty());
    s.shutdown();
}
