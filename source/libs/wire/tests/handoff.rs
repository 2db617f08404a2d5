//! Endpoint handoff over SCM_RIGHTS: in-process over a real socketpair,
//! across a spawned child whose stdin is the control channel, and the
//! malformed messages a receiver must refuse.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexus_core::Coded;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use std::io::{IoSlice, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use wire::handoff::{encode_header, recv_endpoint, send_endpoint, HandoffError};
use wire::{
    Args, CallContext, Client, ErrorCode, Request, Server, ServerConfig, Subject, Value, WireError,
};

fn whoami(ctx: &CallContext, _req: &Request) -> Result<Value, WireError> {
    Ok(Args::new()
        .with("subject", ctx.subject().to_string())
        .with("pid", std::process::id())
        .into_value())
}

fn notes() -> Subject {
    "app:com.example.notes".parse().unwrap()
}

#[test]
fn endpoint_passes_over_a_socketpair() {
    let (supervisor, child) = UnixStream::pair().unwrap();
    let (client_end, server_end) = UnixStream::pair().unwrap();
    send_endpoint(&supervisor, "keystored", &notes(), server_end.as_fd()).unwrap();
    drop(server_end);
    // A second endpoint queued behind the first is not consumed early.
    let (other_client, other_server) = UnixStream::pair().unwrap();
    let selftest: Subject = "system:selftest".parse().unwrap();
    send_endpoint(&supervisor, "attestd", &selftest, other_server.as_fd()).unwrap();
    drop(other_server);
    drop(supervisor);

    let server = Server::new(whoami, ServerConfig::default());
    for (client, name, subject) in [
        (client_end, "keystored", notes()),
        (other_client, "attestd", selftest),
    ] {
        let ep = recv_endpoint(&child).unwrap();
        assert_eq!(ep.name.as_str(), name);
        assert_eq!(ep.subject, subject);
        server.add_connection(ep.stream, ep.subject).unwrap();
        let reply = Client::from_stream(client)
            .call("whoami", &Args::new())
            .unwrap();
        let reply = Args::from_value(reply).unwrap();
        assert_eq!(reply.text("subject").unwrap(), subject.to_string());
    }
    assert!(matches!(recv_endpoint(&child), Err(HandoffError::Closed)));
    assert!(server.shutdown());
}

/// Send `bytes` with `fds` attached, bypassing `send_endpoint`'s checks.
fn send_raw(control: &UnixStream, bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) {
    let mut space = vec![0u8; rustix::cmsg_space!(ScmRights(8))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        assert!(cmsg.push(SendAncillaryMessage::ScmRights(fds)));
    }
    let n = rustix::net::sendmsg(
        control,
        &[IoSlice::new(bytes)],
        &mut cmsg,
        SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(n, bytes.len());
}

fn refused(bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> HandoffError {
    let (a, b) = UnixStream::pair().unwrap();
    send_raw(&a, bytes, fds);
    drop(a);
    recv_endpoint(&b).unwrap_err()
}

#[test]
fn test_reject_malformed_handoff_messages() {
    let header = encode_header("keystored", &notes()).unwrap();
    let (x, y) = UnixStream::pair().unwrap();

    let e = refused(&header, &[]);
    assert!(matches!(e, HandoffError::NoDescriptor), "{e}");
    assert_eq!(e.code(), ErrorCode::Einval);

    let e = refused(&header, &[x.as_fd(), y.as_fd()]);
    assert!(matches!(e, HandoffError::ExtraDescriptors), "{e}");
    let many = [x.as_fd(); 8];
    let e = refused(&header, &many);
    assert!(matches!(e, HandoffError::ExtraDescriptors), "{e}");

    let file = tempfile::tempfile().unwrap();
    let e = refused(&header, &[file.as_fd()]);
    assert!(matches!(e, HandoffError::NotAStreamSocket), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let listener = std::os::unix::net::UnixListener::bind(dir.path().join("l")).unwrap();
    let e = refused(&header, &[listener.as_fd()]);
    assert!(matches!(e, HandoffError::NotAStreamSocket), "{e}");

    let e = refused(&header[..header.len() - 2], &[x.as_fd()]);
    assert!(matches!(e, HandoffError::Truncated), "{e}");
    assert_eq!(e.code(), ErrorCode::Eio);

    let mut bad = header.clone();
    let at = bad.windows(3).position(|w| w == b"app").unwrap();
    bad[at..at + 3].copy_from_slice(b"xyz");
    let e = refused(&bad, &[x.as_fd()]);
    assert!(matches!(e, HandoffError::BadSubject), "{e}");

    let e = refused(&[0, 0, 0x10, 1], &[x.as_fd()]);
    assert!(matches!(e, HandoffError::Header(_)), "{e}");
    let e = refused(&[0, 0, 0, 1, 0xff], &[x.as_fd()]);
    assert!(matches!(e, HandoffError::Header(_)), "{e}");

    assert!(matches!(
        send_endpoint(&x, "../etc", &notes(), y.as_fd()),
        Err(HandoffError::BadName)
    ));
}

const CHILD_ENV: &str = "WIRE_HANDOFF_CHILD";

/// Runs only inside the child spawned by `endpoint_passes_to_a_child_process`:
/// receive one endpoint on stdin and serve it until its peer hangs up.
#[test]
fn handoff_child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let ep = recv_endpoint(std::io::stdin()).unwrap();
    assert_eq!(ep.name.as_str(), "keystored");
    let server = Server::new(whoami, ServerConfig::default());
    server.add_connection(ep.stream, ep.subject).unwrap();
    while server.connections() > 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(matches!(
        recv_endpoint(std::io::stdin()),
        Err(HandoffError::Closed)
    ));
    server.shutdown();
}

#[test]
fn endpoint_passes_to_a_child_process() {
    let (supervisor, child_control) = UnixStream::pair().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "handoff_child_entry", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::from(OwnedFd::from(child_control)))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (client_end, server_end) = UnixStream::pair().unwrap();
    send_endpoint(&supervisor, "keystored", &notes(), server_end.as_fd()).unwrap();
    drop(server_end);
    drop(supervisor);

    let mut client = Client::from_stream(client_end);
    let reply = Args::from_value(client.call("whoami", &Args::new()).unwrap()).unwrap();
    assert_eq!(reply.text("subject").unwrap(), "app:com.example.notes");
    let served_by = reply.u64("pid").unwrap();
    assert_eq!(served_by, u64::from(child.id()));
    assert_ne!(served_by, u64::from(std::process::id()));
    drop(client);
    assert!(child.wait().unwrap().success());
    std::io::stdout().flush().unwrap();
}
