//! The linger: the thread that answered a request waits briefly on that
//! connection for the next one. A quiet connection goes back to epoll, no
//! thread lingers while no other waits in epoll (so no client waits for
//! another's linger), and shutdown does not wait for it.

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
fn test_reject_lingering_when_no_other_thread_waits_in_epoll() {
    // One worker and a linger far longer than the test may take: if the
    // worker lingered on a's connection, b would wait for it.
    let srv = lingering(Duration::from_secs(30), 1);
    let mut a = srv.client();
    let mut b = srv.client();
    echo_ok(&mut a, "a");
    let t = Instant::now();
    echo_ok(&mut b, "b");
    echo_ok(&mut a, "a again");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn a_hot_connection_gives_its_thread_back_after_a_streak() {
    // Two workers: one lingers on a's connection while a calls in a
    // loop; b is served by the spare one throughout.
    let srv = lingering(Duration::from_secs(30), 2);
    let mut b = srv.client();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hot = {
        let stop = std::sync::Arc::clone(&stop);
        let mut a = srv.client();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                echo_ok(&mut a, "hot");
                n += 1;
            }
            n
        })
    };
    let t = Instant::now();
    for i in 0..50 {
        echo_ok(&mut b, &format!("b {i}"));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(hot.join().unwrap() > 0);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
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
