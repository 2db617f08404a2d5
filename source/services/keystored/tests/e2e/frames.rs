//! Malformed frames: each gets its clear error (or, for a truncated
//! frame, a closed connection) while other clients keep being served.

use crate::common::{Stack, ALPHA};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use wire::{Args, ErrorCode};

/// Read one reply frame; None if the server closed the connection.
fn reply(s: &mut UnixStream) -> Option<wire::Reply> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return None;
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    Some(wire::decode_reply(&body).unwrap())
}

fn closed(s: &mut UnixStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn expect_einval(r: Option<wire::Reply>, msg: &str) {
    let r = r.expect("a reply");
    assert_eq!(r.id, 0);
    let e = r.outcome.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    assert_eq!(e.msg(), msg);
}

#[test]
fn test_reject_malformed_frames_while_serving_others() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut good = s.keystored.connect(ALPHA);
    good.call("status", &Args::new()).unwrap();

    // Over the limit: refused without reading the body, then closed.
    let mut c = s.keystored.hand("serve", ALPHA);
    c.write_all(&(2u32 << 20).to_be_bytes()).unwrap();
    expect_einval(
        reply(&mut c),
        "frame of 2097152 bytes exceeds the limit of 1048576 bytes",
    );
    assert!(closed(&mut c));
    good.call("status", &Args::new()).unwrap();

    // Not CBOR.
    let mut c = s.keystored.hand("serve", ALPHA);
    c.write_all(&frame(&[0xff, 0x00, 0x13])).unwrap();
    expect_einval(reply(&mut c), "frame is not valid CBOR");
    assert!(closed(&mut c));

    // A CBOR map that is not a request.
    let mut c = s.keystored.hand("serve", ALPHA);
    c.write_all(&frame(&[0xa1, 0x61, 0x76, 0x02])).unwrap();
    assert_eq!(
        reply(&mut c).unwrap().outcome.unwrap_err().code(),
        ErrorCode::Einval
    );
    assert!(closed(&mut c));

    // Unknown op: an operation error, the connection stays open.
    let mut c = s.keystored.hand("serve", ALPHA);
    c.write_all(&frame(
        &wire::encode_request(5, "key.frobnicate", &Args::new()).unwrap(),
    ))
    .unwrap();
    let r = reply(&mut c).unwrap();
    assert_eq!(r.id, 5);
    assert_eq!(r.outcome.unwrap_err().msg(), "unknown op: key.frobnicate");
    c.write_all(&frame(
        &wire::encode_request(6, "status", &Args::new()).unwrap(),
    ))
    .unwrap();
    assert!(reply(&mut c).unwrap().outcome.is_ok());

    // Truncated: the stream ends inside a frame; no reply, closed.
    let mut c = s.keystored.hand("serve", ALPHA);
    let req = frame(&wire::encode_request(1, "status", &Args::new()).unwrap());
    c.write_all(&req[..req.len() - 3]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert!(reply(&mut c).is_none());

    // Everyone else is still served, on endpoints and on the socket.
    good.call("status", &Args::new()).unwrap();
    let mut public = wire::Client::connect(s.run().join("keystored.sock")).unwrap();
    public.call("status", &Args::new()).unwrap();
}
