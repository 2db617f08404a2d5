//! Upstreams over real socketpairs and real wire servers: a service that is
//! down is `EAGAIN` at once, start-up waits for an endpoint, replacing it
//! while a call is in flight, retrying an idempotent call across a lost
//! connection, and bounded waits for a busy connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nexus_core::{Coded, ErrorCode, Subject};
use nexus_daemon::{Call, SingleClient, UpstreamConfig, UpstreamError, Upstreams};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};
use wire::{Args, CallContext, Client, Request, Server, ServerConfig, Value, WireError};

/// A server that answers `whoami` with its tag and `slow` after a pause.
fn server(tag: &'static str) -> Server {
    let handler = move |_: &CallContext, req: &Request| -> Result<Value, WireError> {
        match req.op() {
            "whoami" => Ok(Value::Text(tag.to_owned())),
            "slow" => {
                thread::sleep(Duration::from_millis(400));
                Ok(Value::Text(tag.to_owned()))
            }
            "fail" => Err(WireError::new(ErrorCode::Enoent, "nothing here")),
            op => Err(WireError::unknown_op(op)),
        }
    };
    Server::new(handler, ServerConfig::default())
}

/// A connected endpoint whose other end `server` serves.
fn endpoint(server: &Server) -> UnixStream {
    let (client, srv) = UnixStream::pair().unwrap();
    let subject: Subject = "system:keystored".parse().unwrap();
    server.add_connection(srv, subject).unwrap();
    client
}

fn ups(wait_ms: u64) -> Upstreams {
    Upstreams::new(UpstreamConfig {
        wait: Duration::from_millis(wait_ms),
        call_timeout: Duration::from_secs(5),
    })
}

fn whoami(u: &Upstreams) -> Result<String, UpstreamError> {
    u.call("svc", "whoami", &Args::new())
        .map(|v| v.into_text().unwrap())
}

#[test]
fn test_reject_call_before_any_endpoint_at_once_with_eagain() {
    let u = ups(5000);
    let t0 = Instant::now();
    let e = whoami(&u).unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable(ref s) if s == "svc"));
    assert_eq!(e.code(), ErrorCode::Eagain);
    assert_eq!(e.to_string(), "svc is unavailable; try again");
    // At once: not after the 5 s a busy connection would be waited for.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[test]
fn start_up_waits_for_an_endpoint_issued_later() {
    let u = ups(5000);
    let s = server("a");
    let issuer = {
        let u = u.clone();
        let s = s.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            u.replace("svc", endpoint(&s));
        })
    };
    let t0 = Instant::now();
    assert!(!u.wait_connected("svc", t0 + Duration::from_millis(20)));
    assert!(u.wait_connected("svc", t0 + Duration::from_secs(20)));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    assert_eq!(whoami(&u).unwrap(), "a");
    issuer.join().unwrap();
    assert!(u.is_connected("svc"));
    s.shutdown();
}

#[test]
fn remote_errors_keep_their_code_and_the_connection() {
    let u = ups(1000);
    let s = server("a");
    u.replace("svc", endpoint(&s));
    let e = u.call("svc", "fail", &Args::new()).unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Enoent));
    assert_eq!(e.code(), ErrorCode::Enoent);
    assert_eq!(whoami(&u).unwrap(), "a");
    s.shutdown();
}

#[test]
fn a_dead_service_is_unavailable_at_once_until_its_endpoint_is_reissued() {
    let u = ups(3000);
    let old = server("old");
    u.replace("svc", endpoint(&old));
    assert_eq!(whoami(&u).unwrap(), "old");
    // The service dies: its end of the connection closes. Callers are told
    // at once, with the service's name, not after the 3 s busy wait.
    old.shutdown();
    for _ in 0..3 {
        let t0 = Instant::now();
        let e = whoami(&u).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
        assert_eq!(e.to_string(), "svc is unavailable; try again");
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(!u.is_connected("svc"));
    }
    // The supervisor hands a new endpoint: served again.
    let new = server("new");
    u.replace("svc", endpoint(&new));
    assert_eq!(whoami(&u).unwrap(), "new");
    new.shutdown();
}

#[test]
fn replacing_during_a_call_never_restores_a_dead_client() {
    let u = ups(3000);
    let old = server("old");
    let new = server("new");
    u.replace("svc", endpoint(&old));
    let slow = {
        let u = u.clone();
        thread::spawn(move || u.call("svc", "slow", &Args::new()).unwrap())
    };
    thread::sleep(Duration::from_millis(100));
    u.replace("svc", endpoint(&new));
    // The new client is usable at once, while the old one is still lent.
    assert_eq!(whoami(&u).unwrap(), "new");
    // The old server stops: it answers the call in flight, then closes.
    old.shutdown();
    assert_eq!(slow.join().unwrap().into_text().unwrap(), "old");
    for _ in 0..3 {
        assert_eq!(whoami(&u).unwrap(), "new");
    }
    new.shutdown();
}

#[test]
fn test_reject_call_while_the_connection_stays_busy() {
    let u = ups(100);
    let s = server("a");
    u.replace("svc", endpoint(&s));
    let slow = {
        let u = u.clone();
        thread::spawn(move || u.call("svc", "slow", &Args::new()))
    };
    thread::sleep(Duration::from_millis(50));
    let e = whoami(&u).unwrap_err();
    assert!(matches!(e, UpstreamError::Busy(_)));
    assert_eq!(e.code(), ErrorCode::Ebusy);
    slow.join().unwrap().unwrap();
    assert_eq!(whoami(&u).unwrap(), "a");
    s.shutdown();
}

/// An endpoint whose peer reads one request, runs `then` and hangs up
/// without a reply: a connection lost after sending.
fn dropping_endpoint(then: impl FnOnce() + Send + 'static) -> UnixStream {
    let (client, mut peer) = UnixStream::pair().unwrap();
    thread::spawn(move || {
        let mut len = [0u8; 4];
        peer.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        peer.read_exact(&mut body).unwrap();
        then();
    });
    client
}

#[test]
fn only_idempotent_calls_are_retried_after_a_lost_connection() {
    let u = ups(3000);
    u.replace("svc", dropping_endpoint(|| {}));
    let e = whoami(&u).unwrap_err();
    assert!(matches!(e, UpstreamError::Transport { .. }));
    assert_eq!(e.code(), ErrorCode::Eagain);

    // The service dies during the call and the supervisor has already
    // re-issued the endpoint: an idempotent call is sent once more there.
    let s = server("again");
    let reissue = {
        let (u, s) = (u.clone(), s.clone());
        move || u.replace("svc", endpoint(&s))
    };
    u.replace("svc", dropping_endpoint(reissue));
    let v = u.call_idempotent("svc", "whoami", &Args::new()).unwrap();
    assert_eq!(v.into_text().unwrap(), "again");

    // Without a new endpoint yet (the service died: every connection it
    // served is closed), the retry is unavailable at once.
    s.shutdown();
    u.replace("svc", dropping_endpoint(|| {}));
    let e = u
        .call_idempotent("svc", "whoami", &Args::new())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
    assert!(matches!(e, UpstreamError::Unavailable(_)), "{e}");
}

#[test]
fn close_wakes_waiters_at_once() {
    let u = ups(10_000);
    let s = server("a");
    u.replace("svc", endpoint(&s));
    let slow = {
        let u = u.clone();
        thread::spawn(move || u.call("svc", "slow", &Args::new()))
    };
    thread::sleep(Duration::from_millis(100));
    // Waits for the lent connection.
    let waiter = {
        let u = u.clone();
        thread::spawn(move || whoami(&u))
    };
    thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    u.close();
    let e = waiter.join().unwrap().unwrap_err();
    assert!(matches!(e, UpstreamError::Closed));
    assert!(t0.elapsed() < Duration::from_secs(2));
    let _ = slow.join().unwrap();
    assert!(!u.wait_connected("svc", Instant::now() + Duration::from_secs(5)));
    // Endpoints arriving after close are dropped.
    let late = server("late");
    u.replace("svc", endpoint(&late));
    assert!(!u.is_connected("svc"));
    s.shutdown();
    late.shutdown();
}

#[test]
fn handles_and_single_clients_carry_calls() {
    let u = ups(1000);
    let s = server("h");
    u.replace("svc", endpoint(&s));
    let h = u.handle("svc");
    assert_eq!(h.service(), "svc");
    let v = h.call("whoami", &Args::new(), true).unwrap();
    assert_eq!(v.into_text().unwrap(), "h");
    let single = SingleClient::new("svc", Client::from_stream(endpoint(&s)));
    let v = single.call("whoami", &Args::new(), false).unwrap();
    assert_eq!(v.into_text().unwrap(), "h");
    let e = single.call("fail", &Args::new(), false).unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Enoent));
    s.shutdown();
}
