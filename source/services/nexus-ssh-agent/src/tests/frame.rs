//! Framing over real sockets: limits, broken frames, and isolation of
//! connections (a connection that breaks takes no other with it).

use super::*;
use crate::frame::{read_message, FrameError};
use crate::proto::MAX_MESSAGE_LEN;
use crate::server::serve_connection;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

/// Serve one end of a socket pair with `agent` on a thread.
fn served(agent: &Arc<Agent>) -> (UnixStream, thread::JoinHandle<()>) {
    let (client, server) = UnixStream::pair().unwrap();
    let agent = Arc::clone(agent);
    let t = thread::spawn(move || serve_connection(&agent, server));
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (client, t)
}

fn send(s: &mut UnixStream, body: &[u8]) {
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(body).unwrap();
}

fn reply(s: &mut UnixStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    body
}

/// True when the server closed the connection (EOF on read).
fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
}

fn agent_with_key() -> (Arc<Agent>, [u8; 32]) {
    let h = Harness::new();
    let public = h.fake.add("ssh", "laptop", 1);
    (Arc::new(h.agent), public)
}

#[test]
fn test_reject_oversized_message_closes_unread() {
    let (agent, _) = agent_with_key();
    let (mut c, t) = served(&agent);
    // Announce one byte over the limit and send nothing more: the agent
    // must close without waiting for (or buffering) the body.
    c.write_all(&((MAX_MESSAGE_LEN + 1) as u32).to_be_bytes())
        .unwrap();
    assert!(closed(&mut c));
    t.join().unwrap();
}

#[test]
fn test_reject_huge_length_closes() {
    let (agent, _) = agent_with_key();
    let (mut c, t) = served(&agent);
    c.write_all(&u32::MAX.to_be_bytes()).unwrap();
    assert!(closed(&mut c));
    t.join().unwrap();
}

#[test]
fn test_reject_zero_length_closes() {
    let (agent, _) = agent_with_key();
    let (mut c, t) = served(&agent);
    c.write_all(&[0, 0, 0, 0]).unwrap();
    assert!(closed(&mut c));
    t.join().unwrap();
}

#[test]
fn a_message_at_the_limit_is_read_and_answered() {
    let (agent, public) = agent_with_key();
    let (mut c, t) = served(&agent);
    // A sign request of exactly MAX_MESSAGE_LEN bytes.
    let overhead = sign_msg(&public, b"", 0).len();
    let m = sign_msg(&public, &vec![0x5a; MAX_MESSAGE_LEN - overhead], 0);
    assert_eq!(m.len(), MAX_MESSAGE_LEN);
    send(&mut c, &m);
    assert_eq!(reply(&mut c)[0], msg::SIGN_RESPONSE);
    drop(c);
    t.join().unwrap();
}

#[test]
fn test_reject_stream_ending_inside_a_message() {
    let (agent, _) = agent_with_key();
    let (mut c, t) = served(&agent);
    c.write_all(&[0, 0, 0, 20, msg::SIGN_REQUEST, 0, 0])
        .unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed(&mut c));
    t.join().unwrap();
}

#[test]
fn read_message_reports_each_frame_error() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.write_all(&[0, 0, 0, 0]).unwrap();
    assert!(matches!(read_message(&mut b), Err(FrameError::Empty)));
    a.write_all(&[0, 4, 0, 1]).unwrap();
    assert!(matches!(
        read_message(&mut b),
        Err(FrameError::TooLong(262145))
    ));
    drop(a);
    assert!(matches!(read_message(&mut b), Err(FrameError::Closed)));
}

#[test]
fn malformed_contents_get_failure_and_the_connection_goes_on() {
    let (agent, public) = agent_with_key();
    let (mut c, t) = served(&agent);
    // Truncated string, trailing bytes, unknown type: FAILURE each time.
    let mut truncated = vec![msg::SIGN_REQUEST];
    truncated.extend_from_slice(&1000u32.to_be_bytes());
    for bad in [truncated, vec![msg::REQUEST_IDENTITIES, 0], vec![200]] {
        send(&mut c, &bad);
        assert_eq!(reply(&mut c), [msg::FAILURE]);
    }
    // The same connection still signs.
    send(&mut c, &sign_msg(&public, b"after", 0));
    assert_eq!(reply(&mut c)[0], msg::SIGN_RESPONSE);
    drop(c);
    t.join().unwrap();
}

#[test]
fn a_broken_connection_does_not_affect_another() {
    let (agent, public) = agent_with_key();
    let (mut good, tg) = served(&agent);
    let (mut bad, tb) = served(&agent);
    // The bad client starts a message and stalls; the good one is served
    // meanwhile, then the bad one breaks its frame and is closed.
    bad.write_all(&[0x00, 0x10]).unwrap();
    send(&mut good, &[msg::REQUEST_IDENTITIES]);
    assert_eq!(reply(&mut good)[0], msg::IDENTITIES_ANSWER);
    bad.write_all(&[0x00, 0x01]).unwrap(); // length 0x00100001: over the limit
    assert!(closed(&mut bad));
    tb.join().unwrap();
    send(&mut good, &sign_msg(&public, b"still here", 0));
    assert_eq!(reply(&mut good)[0], msg::SIGN_RESPONSE);
    drop(good);
    tg.join().unwrap();
}
