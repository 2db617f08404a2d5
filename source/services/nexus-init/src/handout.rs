//! Endpoint handout: fresh socketpairs for a route, one per lane (the
//! route's `lanes`, 1..=8), their ends sent over the two children's
//! control channels with `SCM_RIGHTS`. Each pair carries one call at a
//! time; the server serves every lane it receives and the client pools
//! them, so a route's lanes are how many calls may run on it at once.
//!
//! The server's end is named `serve` and carries the client's subject; the
//! client's end is named after the server and carries the server's
//! subject. Each subject is fixed here, by init, from the manifest: a
//! child cannot choose the subject its peer sees.
//!
//! Invariant: init keeps no end of an endpoint. Both ends are dropped
//! (closed in init) as soon as they are sent, so when either child dies
//! its peer sees end-of-stream, and a half-delivered endpoint (one send
//! failed) closes instead of dangling.

use nexus_core::Subject;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use wire::handoff::{send_endpoint, HandoffError};

use crate::manifest::SERVE;

/// One end of a route: the child's control channel and who it is.
pub struct Peer<'a> {
    /// Init's end of the child's control channel.
    pub control: &'a UnixStream,
    /// The child's name (the endpoint name its clients receive).
    pub name: &'a str,
    /// The child's subject.
    pub subject: &'a Subject,
}

/// Connect `client` to `server` with `lanes` new endpoints. Stops at the
/// first that cannot be sent: the child that does not read is dying, and
/// its restart re-issues them all.
pub fn connect(server: &Peer<'_>, client: &Peer<'_>, lanes: u8) -> Result<(), HandoffError> {
    for _ in 0..lanes {
        connect_one(server, client)?;
    }
    Ok(())
}

fn connect_one(server: &Peer<'_>, client: &Peer<'_>) -> Result<(), HandoffError> {
    let (server_end, client_end) = UnixStream::pair()?;
    // The server first: by the time the client can call, the server has
    // (or will read) the connection that carries the call.
    send_endpoint(server.control, SERVE, client.subject, server_end.as_fd())?;
    send_endpoint(
        client.control,
        server.name,
        server.subject,
        client_end.as_fd(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::handoff::recv_endpoint;

    fn subjects() -> (Subject, Subject) {
        (
            "system:keymintd".parse().unwrap(),
            "system:keystored".parse().unwrap(),
        )
    }

    /// keystored connected to keymintd with `lanes` lanes; the children's
    /// ends of the two control channels.
    fn hand_out(lanes: u8) -> (UnixStream, UnixStream) {
        let (srv_init, srv_child) = UnixStream::pair().unwrap();
        let (cli_init, cli_child) = UnixStream::pair().unwrap();
        let (srv_subject, cli_subject) = subjects();
        let server = Peer {
            control: &srv_init,
            name: "keymintd",
            subject: &srv_subject,
        };
        let client = Peer {
            control: &cli_init,
            name: "keystored",
            subject: &cli_subject,
        };
        connect(&server, &client, lanes).unwrap();
        (srv_child, cli_child)
    }

    #[test]
    fn both_ends_arrive_named_and_connected() {
        let (srv_subject, cli_subject) = subjects();
        let (srv_child, cli_child) = hand_out(1);
        let s = recv_endpoint(&srv_child).unwrap();
        let c = recv_endpoint(&cli_child).unwrap();
        assert_eq!(s.name.as_str(), "serve");
        assert_eq!(s.subject, cli_subject);
        assert_eq!(c.name.as_str(), "keymintd");
        assert_eq!(c.subject, srv_subject);
        // The two streams are the two ends of one pair.
        use std::io::{Read, Write};
        (&c.stream).write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        (&s.stream).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn every_lane_is_its_own_connected_pair() {
        use std::io::{Read, Write};
        let (srv_child, cli_child) = hand_out(3);
        let serves: Vec<_> = (0..3).map(|_| recv_endpoint(&srv_child).unwrap()).collect();
        let clients: Vec<_> = (0..3).map(|_| recv_endpoint(&cli_child).unwrap()).collect();
        // Lane i of the client is lane i of the server, and no other.
        for (i, (s, c)) in serves.iter().zip(&clients).enumerate() {
            assert_eq!(s.name.as_str(), "serve");
            assert_eq!(c.name.as_str(), "keymintd");
            (&c.stream).write_all(&[i as u8]).unwrap();
            let mut b = [0u8; 1];
            (&s.stream).read_exact(&mut b).unwrap();
            assert_eq!(b[0], i as u8);
        }
        // Nothing more was sent.
        srv_child.set_nonblocking(true).unwrap();
        assert!(recv_endpoint(&srv_child).is_err());
    }

    #[test]
    fn test_reject_handout_to_a_dead_child() {
        use nexus_core::{Coded, ErrorCode};
        let (srv_init, srv_child) = UnixStream::pair().unwrap();
        drop(srv_child);
        let (cli_init, _cli_child) = UnixStream::pair().unwrap();
        let subject: Subject = "system:a".parse().unwrap();
        let other: Subject = "system:b".parse().unwrap();
        let server = Peer {
            control: &srv_init,
            name: "a",
            subject: &subject,
        };
        let client = Peer {
            control: &cli_init,
            name: "b",
            subject: &other,
        };
        let e = connect(&server, &client, 1).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
    }
}
