//! Server and client behaviour: connection cap, panics, load, subjects,
//! timeouts, shutdown, socket files, reconnection.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread;
use std::time::Duration;
use wire::frame::{encode_frame, read_frame};
use wire::{
    decode_request, encode_reply, Args, Client, ClientConfig, ClientError, ErrorCode,
    PeerCredResolver, ReconnectingClient, Server, ServerConfig, ServerError, Subject, Value,
    MAX_FRAME_LEN,
};

#[test]
fn test_reject_over_connection_cap_with_ebusy() {
    let srv = TestServer::with_config(ServerConfig {
        max_connections: 2,
        max_connections_per_subject: 2,
        reserved_connections: 0,
        ..ServerConfig::default()
    });
    let mut a = srv.client();
    let mut b = srv.client();
    echo_ok(&mut a, "a");
    echo_ok(&mut b, "b");
    let mut c = srv.client();
    let e = c.call("echo", &Args::new()).unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Ebusy), "{e}");
    echo_ok(&mut a, "a still served");
    drop(b);
    assert!(eventually(|| srv.server.public_connections() == 1));
    echo_ok(&mut srv.client(), "room again");
}

#[test]
fn test_reject_handler_panic_with_eio_and_keep_serving() {
    let srv = TestServer::start();
    let mut bystander = srv.client();
    let mut c = srv.client();
    let e = c.call("panic", &Args::new()).unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Eio));
    assert_eq!(e.to_string(), "EIO: internal error");
    echo_ok(&mut c, "same connection after a panic");
    echo_ok(&mut bystander, "other connection");
}

#[test]
fn concurrent_clients_get_every_reply() {
    let srv = TestServer::start();
    let errors: usize = thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|t| {
                let path = srv.path.clone();
                s.spawn(move || {
                    let mut c = Client::connect(&path).unwrap();
                    let mut errors = 0;
                    for i in 0..200u64 {
                        let args = Args::new()
                            .with("thread", t as u64)
                            .with("i", i)
                            .with("blob", Value::Bytes(vec![t as u8; (i % 64) as usize]));
                        match c.call("echo", &args) {
                            Ok(v) if v == args.into_value() => {}
                            _ => errors += 1,
                        }
                    }
                    errors
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(errors, 0);
}

#[test]
fn peer_credentials_give_the_subject() {
    let srv = TestServer::start();
    let reply = Args::from_value(srv.client().call("whoami", &Args::new()).unwrap()).unwrap();
    let uid = rustix::process::getuid().as_raw();
    assert_eq!(reply.text("subject").unwrap(), format!("uid:{uid}"));
    assert_eq!(reply.u64("uid").unwrap(), u64::from(uid));
    assert_eq!(reply.u64("pid").unwrap(), u64::from(std::process::id()));
}

#[test]
fn test_reject_unmapped_uid_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closed.sock");
    let server = Server::new(handler, ServerConfig::default());
    server
        .listen(&path, PeerCredResolver::new(|_| None))
        .unwrap();
    let e = Client::connect(&path)
        .unwrap()
        .call("echo", &Args::new())
        .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Eperm), "{e}");
    assert!(server.shutdown());
}

#[test]
fn added_connection_has_its_fixed_subject() {
    let server = Server::new(handler, ServerConfig::default());
    let (ours, theirs) = UnixStream::pair().unwrap();
    let subject: Subject = "app:com.example.notes".parse().unwrap();
    server.add_connection(theirs, subject).unwrap();
    let reply = Client::from_stream(ours)
        .call("whoami", &Args::new())
        .unwrap();
    let reply = Args::from_value(reply).unwrap();
    assert_eq!(reply.text("subject").unwrap(), "app:com.example.notes");
    assert_eq!(reply.get("uid"), Some(&Value::Null));
    assert!(server.shutdown());
}

#[test]
fn idle_and_stalled_connections_are_closed() {
    let srv = TestServer::with_config(ServerConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        frame_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut idle = srv.raw();
    let mut stalled = srv.raw();
    std::io::Write::write_all(&mut stalled, &[0, 0, 0, 9, 0xa4]).unwrap();
    assert_closed(&mut idle);
    assert_closed(&mut stalled);
    echo_ok(&mut srv.client(), "others fine");
}

#[test]
fn oversized_reply_becomes_eio() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let e = c
        .call("big", &Args::new().with("len", MAX_FRAME_LEN as u64))
        .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Eio), "{e}");
    echo_ok(&mut c, "after");
}

#[test]
fn client_times_out_and_refuses_further_calls() {
    let srv = TestServer::start();
    let mut c = Client::connect_with(
        &srv.path,
        ClientConfig {
            timeout: Duration::from_millis(100),
        },
    )
    .unwrap();
    let e = c
        .call("sleep", &Args::new().with("ms", 500u64))
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout), "{e}");
    assert!(matches!(
        c.call("echo", &Args::new()),
        Err(ClientError::Broken)
    ));
}

#[test]
fn shutdown_finishes_in_flight_requests() {
    let srv = TestServer::start();
    let mut idle = srv.client();
    echo_ok(&mut idle, "connected");
    let path = srv.path.clone();
    let slow = thread::spawn(move || {
        let mut c = Client::connect(&path).unwrap();
        c.call(
            "sleep",
            &Args::new().with("ms", 300u64).with("tag", "in-flight"),
        )
    });
    assert!(eventually(|| entered("in-flight")));
    assert!(srv.server.shutdown());
    assert_eq!(slow.join().unwrap().unwrap(), Value::Bool(true));
    assert!(idle.call("echo", &Args::new()).is_err());
    assert!(!srv.path.exists(), "socket file removed");
    assert!(UnixStream::connect(&srv.path).is_err());
    assert_eq!(srv.server.connections(), 0);
}

#[test]
fn socket_file_mode_is_as_configured() {
    for mode in [0o660, 0o600] {
        let srv = TestServer::with_config(ServerConfig {
            socket_mode: mode,
            ..ServerConfig::default()
        });
        let meta = fs::symlink_metadata(&srv.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, mode);
    }
}

/// A configured group is the socket file's group (changing a file's group
/// to one the process is not in needs root; any other user sets one of
/// its own groups).
#[test]
fn socket_file_group_is_as_configured() {
    use std::os::unix::fs::MetadataExt;
    let gid = if rustix::process::geteuid().is_root() {
        54321
    } else {
        rustix::process::getegid().as_raw()
    };
    let srv = TestServer::with_config(ServerConfig {
        socket_mode: 0o660,
        socket_group: Some(gid),
        ..ServerConfig::default()
    });
    let meta = fs::symlink_metadata(&srv.path).unwrap();
    assert_eq!((meta.gid(), meta.mode() & 0o7777), (gid, 0o660));
    echo_ok(&mut Client::connect(&srv.path).unwrap(), "grouped");
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a stale socket file is left behind");
    let server = Server::new(handler, ServerConfig::default());
    server
        .listen(&path, PeerCredResolver::new(|u| Some(Subject::Uid(u))))
        .unwrap();
    echo_ok(&mut Client::connect(&path).unwrap(), "fresh");
    server.shutdown();
}

#[test]
fn test_reject_live_socket_and_non_socket_paths() {
    let srv = TestServer::start();
    let second = Server::new(handler, ServerConfig::default());
    let resolver = || PeerCredResolver::new(|u| Some(Subject::Uid(u)));
    let e = second.listen(&srv.path, resolver()).unwrap_err();
    assert!(matches!(e, ServerError::InUse(_)), "{e}");
    assert_eq!(nexus_core::Coded::code(&e), ErrorCode::Ebusy);
    echo_ok(&mut srv.client(), "first server untouched");

    // A live socket of some other program (no lock file) is not stolen.
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.sock");
    let _listener = UnixListener::bind(&foreign).unwrap();
    let e = second.listen(&foreign, resolver()).unwrap_err();
    assert!(matches!(e, ServerError::InUse(_)), "{e}");

    let file = dir.path().join("data");
    fs::write(&file, b"precious").unwrap();
    let e = second.listen(&file, resolver()).unwrap_err();
    assert!(matches!(e, ServerError::NotASocket(_)), "{e}");
    assert_eq!(nexus_core::Coded::code(&e), ErrorCode::Einval);
    assert_eq!(fs::read(&file).unwrap(), b"precious");
}

#[test]
fn reconnecting_client_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    let start = || {
        let s = Server::new(handler, ServerConfig::default());
        s.listen(&path, PeerCredResolver::new(|u| Some(Subject::Uid(u))))
            .unwrap();
        s
    };
    let first = start();
    let mut rc = ReconnectingClient::new(&path, ClientConfig::default());
    let args = Args::new().with("msg", "x");
    assert_eq!(rc.call("echo", &args).unwrap(), args.clone().into_value());
    first.shutdown();
    let second = start();
    // Not idempotent, yet safe: the dead connection is noticed before sending.
    assert_eq!(rc.call("echo", &args).unwrap(), args.clone().into_value());
    second.shutdown();
}

#[test]
fn reconnecting_client_waits_out_a_restart_but_not_a_missing_service() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    let start = |path: &std::path::Path| {
        let s = Server::new(handler, ServerConfig::default());
        s.listen(path, PeerCredResolver::new(|u| Some(Subject::Uid(u))))
            .unwrap();
        s
    };
    // Never connected: a missing service is reported at once.
    let mut cold = ReconnectingClient::new(dir.path().join("none.sock"), ClientConfig::default());
    let t = std::time::Instant::now();
    assert!(cold.call("echo", &Args::new()).is_err());
    assert!(t.elapsed() < Duration::from_secs(1));

    let first = start(&path);
    let mut rc = ReconnectingClient::new(&path, ClientConfig::default());
    let args = Args::new().with("msg", "x");
    assert_eq!(rc.call("echo", &args).unwrap(), args.clone().into_value());
    first.shutdown();
    // The service comes back 300 ms later; the call made in between waits.
    let restart_path = path.clone();
    let restarter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        start(&restart_path)
    });
    assert_eq!(rc.call("echo", &args).unwrap(), args.clone().into_value());
    restarter.join().unwrap().shutdown();

    // Gone for good: the wait is bounded by RECONNECT_WAIT.
    let t = std::time::Instant::now();
    assert!(rc.call("echo", &args).is_err());
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    assert!(
        waited < wire::RECONNECT_WAIT + Duration::from_millis(500),
        "{waited:?}"
    );
}

/// A server that serves `connections` connections, one request each; the
/// first `drops` of them it closes without reading the request, as a
/// listener does whose process is dying (the client sees a reset).
fn flaky_server(
    listener: UnixListener,
    connections: usize,
    drops: usize,
) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut served = 0;
        for n in 0..connections {
            let (mut s, _) = listener.accept().unwrap();
            if n < drops {
                // Let the request arrive unread, so the close is a reset.
                thread::sleep(Duration::from_millis(20));
                drop(s);
                continue;
            }
            let Ok(Some(body)) = read_frame(&mut s, MAX_FRAME_LEN) else {
                continue;
            };
            let req = decode_request(&body).unwrap();
            let value = req.args().clone().into_value();
            let reply = encode_frame(&encode_reply(req.id(), Ok(&value)).unwrap(), MAX_FRAME_LEN);
            std::io::Write::write_all(&mut s, &reply.unwrap()).unwrap();
            served += 1;
        }
        served
    })
}

#[test]
fn only_idempotent_calls_are_retried_after_a_lost_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flaky.sock");
    let args = Args::new().with("msg", "again");

    let listener = UnixListener::bind(&path).unwrap();
    let flaky = flaky_server(listener, 2, 1);
    let mut rc = ReconnectingClient::new(&path, ClientConfig::default());
    assert_eq!(
        rc.call_idempotent("echo", &args).unwrap(),
        args.clone().into_value()
    );
    assert_eq!(flaky.join().unwrap(), 1);
    fs::remove_file(&path).unwrap();

    let listener = UnixListener::bind(&path).unwrap();
    let flaky = flaky_server(listener, 1, 1);
    let mut rc = ReconnectingClient::new(&path, ClientConfig::default());
    let e = rc.call("echo", &args).unwrap_err();
    assert!(e.is_connection_lost(), "{e}");
    assert_eq!(flaky.join().unwrap(), 0);
}

#[test]
fn idempotent_call_outlasts_a_dying_listener() {
    // A killed service's listener can accept (queue) the first reconnect
    // and then reset it too; the call still succeeds once the service is
    // back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dying.sock");
    let args = Args::new().with("msg", "third time");
    let listener = UnixListener::bind(&path).unwrap();
    let flaky = flaky_server(listener, 3, 2);
    let mut rc = ReconnectingClient::new(&path, ClientConfig::default());
    assert_eq!(
        rc.call_idempotent("echo", &args).unwrap(),
        args.clone().into_value()
    );
    assert_eq!(flaky.join().unwrap(), 1);
}

#[test]
fn test_reject_idempotent_resends_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("always-lost.sock");
    let args = Args::new().with("msg", "never");
    // A listener that resets every connection and counts them until told
    // to stop.
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_seen = std::sync::Arc::clone(&stop);
    let resetter = thread::spawn(move || {
        let mut accepted = 0u32;
        while !stop_seen.load(std::sync::atomic::Ordering::Acquire) {
            match listener.accept() {
                Ok((s, _)) => {
                    accepted += 1;
                    thread::sleep(Duration::from_millis(20));
                    drop(s);
                }
                Err(_) => thread::sleep(Duration::from_millis(2)),
            }
        }
        accepted
    });
    let mut rc = ReconnectingClient::new(&path, ClientConfig::default());
    let t = std::time::Instant::now();
    let e = rc.call_idempotent("echo", &args).unwrap_err();
    assert!(e.is_connection_lost(), "{e}");
    assert!(t.elapsed() < wire::RECONNECT_WAIT + Duration::from_secs(1));
    // Give a (wrong) further resend time to arrive before counting.
    thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(resetter.join().unwrap(), wire::MAX_SENDS);
}
