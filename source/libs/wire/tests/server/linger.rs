//! The linger: the thread that answered a request waits briefly on that
//! connection for the next one. A quiet connection goes back to epoll, a
//! lingering thread never keeps another client waiting longer than the
//! linger, and shutdown does not wait for it.

use crate::common::*;
use std::time::{Duration, Instant};
use wire::ServerConfig;

fn lingering(linger: Duration, max_workers: usize) -> TestServer {
    TestServer::with_config(ServerConfig {
        linger: Some(linger),
        max_workers,
        ..ServerConfig::default()
    })
}

#[test]
fn calls_at_once_and_after_the_linger_are_both_served() {
    let srv = lingering(Duration::from_millis(20), 4);
    let mut c = srv.client();
    for i in 0..200 {
        echo_ok(&mut c, &format!("at once {i}"));
    }
    // Quiet past the linger: the connection is back in epoll.
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(60));
        echo_ok(&mut c, &format!("after a pause {i}"));
    }
    // A frame sent in two pieces across the linger still arrives whole.
    let mut raw = srv.raw();
    let body = cbor(&map(vec![
        ("v", wire::Value::Integer(1.into())),
        ("id", wire::Value::Integer(7.into())),
        ("op", text("echo")),
        ("args", map(vec![("msg", text("split"))])),
    ]));
    let mut framed = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    use std::io::Write;
    raw.write_all(&framed[..3]).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    raw.write_all(&framed[3..]).unwrap();
    assert!(read_reply(&mut raw).outcome.is_ok());
}

#[test]
fn a_lingering_thread_keeps_others_waiting_at_most_the_linger() {
    // One worker, a long linger: it lingers on a's connection, and b is
    // served once the linger ends (or at once by a new thread: the cap
    // is one, so not here).
    let linger = Duration::from_millis(300);
    let srv = lingering(linger, 1);
    let mut a = srv.client();
    let mut b = srv.client();
    echo_ok(&mut a, "a");
    let t = Instant::now();
    echo_ok(&mut b, "b");
    // Generous: the linger, rounded up to the kernel's timer tick, and a
    // loaded machine.
    assert!(t.elapsed() < linger * 10, "{:?}", t.elapsed());
    echo_ok(&mut a, "a again");
}

#[test]
fn shutdown_does_not_wait_for_a_lingering_thread() {
    let srv = lingering(Duration::from_secs(30), 4);
    let mut c = srv.client();
    echo_ok(&mut c, "one");
    let t = Instant::now();
    assert!(srv.server.shutdown(), "every connection finished");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(c.call("echo", &wire::Args::new()).is_err());
}
