//! Malformed input: each case gets the exact error code (or a silent close
//! for a truncated frame), closes only its own connection, and a client
//! connected at the same time keeps being served.

use crate::common::*;
use std::io::Write;
use std::net::Shutdown;
use wire::{Args, ErrorCode, Value};

/// Send `bytes` raw on a fresh connection while another client is
/// connected; expect a reply `EINVAL` under `id` and a close; then check the
/// bystander (and a new client) are still served.
fn expect_rejected(bytes: &[u8], id: u64) -> String {
    let srv = TestServer::start();
    let mut bystander = srv.client();
    echo_ok(&mut bystander, "before");
    let mut bad = srv.raw();
    bad.write_all(bytes).unwrap();
    let reply = read_reply(&mut bad);
    assert_eq!(reply.id, id);
    let err = reply.outcome.expect_err("an error reply");
    assert_eq!(err.code(), ErrorCode::Einval, "{err}");
    assert_closed(&mut bad);
    echo_ok(&mut bystander, "after");
    echo_ok(&mut srv.client(), "new");
    err.msg().to_owned()
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn request(entries: Vec<(&str, Value)>) -> Vec<u8> {
    framed(&cbor(&map(entries)))
}

fn good() -> Vec<(&'static str, Value)> {
    vec![
        ("v", Value::from(1u64)),
        ("id", Value::from(7u64)),
        ("op", text("echo")),
        ("args", map(vec![])),
    ]
}

fn without(field: &str) -> Vec<(&'static str, Value)> {
    good().into_iter().filter(|(k, _)| *k != field).collect()
}

fn with(field: &'static str, v: Value) -> Vec<(&'static str, Value)> {
    good()
        .into_iter()
        .map(|(k, old)| if k == field { (k, v.clone()) } else { (k, old) })
        .collect()
}

#[test]
fn test_reject_oversize_length_prefix() {
    let over = u32::try_from(wire::MAX_FRAME_LEN + 1).unwrap();
    let msg = expect_rejected(&over.to_be_bytes(), 0);
    assert!(msg.contains("exceeds the limit"), "{msg}");
    expect_rejected(&u32::MAX.to_be_bytes(), 0);
}

#[test]
fn test_reject_zero_length_frame() {
    assert_eq!(expect_rejected(&[0, 0, 0, 0], 0), "empty frame");
}

#[test]
fn test_reject_truncated_frame_closes_without_reply() {
    let srv = TestServer::start();
    let mut bystander = srv.client();
    let mut bad = srv.raw();
    let whole = request(good());
    bad.write_all(&whole[..whole.len() - 3]).unwrap();
    bad.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut bad);
    echo_ok(&mut bystander, "still here");
}

#[test]
fn test_reject_bad_cbor() {
    // 0xff is a lone "break"; 0x1c uses a reserved additional-info value.
    assert_eq!(
        expect_rejected(&framed(&[0xff, 0xff]), 0),
        "frame is not valid CBOR"
    );
    expect_rejected(&framed(&[0x1c]), 0);
    // A text string that is not UTF-8.
    expect_rejected(&framed(&[0xa1, 0x61, 0x76, 0x62, 0xc3, 0x28]), 0);
    // A map announcing more entries than the frame holds.
    expect_rejected(&framed(&[0xa4, 0x61, 0x76, 0x01]), 0);
}

#[test]
fn test_reject_cbor_that_is_not_a_map() {
    let arr = cbor(&Value::Array(vec![1u64.into(), 2u64.into()]));
    assert_eq!(
        expect_rejected(&framed(&arr), 0),
        "message is not a CBOR map"
    );
    expect_rejected(&framed(&cbor(&text("echo"))), 0);
}

#[test]
fn test_reject_missing_fields() {
    assert_eq!(
        expect_rejected(&request(without("op")), 7),
        "missing field `op`"
    );
    assert_eq!(
        expect_rejected(&request(without("id")), 0),
        "missing field `id`"
    );
    assert_eq!(
        expect_rejected(&request(without("v")), 7),
        "missing field `v`"
    );
    assert_eq!(
        expect_rejected(&request(without("args")), 7),
        "missing field `args`"
    );
}

#[test]
fn test_reject_wrong_field_types() {
    // An id that is not an unsigned integer cannot be echoed: id 0.
    expect_rejected(&request(with("id", text("7"))), 0);
    expect_rejected(&request(with("id", Value::from(-7i64))), 0);
    assert_eq!(
        expect_rejected(&request(with("op", Value::from(1u64))), 7),
        "field `op` has the wrong type"
    );
    expect_rejected(&request(with("args", Value::Array(vec![]))), 7);
    expect_rejected(&request(with("v", text("1"))), 7);
    expect_rejected(&request(with("op", text("no spaces"))), 7);
    expect_rejected(&request(with("op", text(""))), 7);
    expect_rejected(&request(with("id", Value::from(0u64))), 0);
    let bad_arg = map(vec![("a b", Value::from(1u64))]);
    assert_eq!(
        expect_rejected(&request(with("args", bad_arg)), 7),
        "malformed argument name"
    );
}

#[test]
fn test_reject_unknown_version() {
    assert_eq!(
        expect_rejected(&request(with("v", Value::from(2u64))), 7),
        "unsupported protocol version"
    );
}

#[test]
fn test_reject_unknown_and_duplicate_fields() {
    let mut extra = good();
    extra.push(("subject", text("system:attestd")));
    assert_eq!(
        expect_rejected(&request(extra), 7),
        "message has an unknown field"
    );
    let mut dup = good();
    dup.push(("op", text("echo")));
    assert_eq!(
        expect_rejected(&request(dup), 7),
        "field `op` appears twice"
    );
}

#[test]
fn test_reject_trailing_garbage_inside_frame() {
    let mut body = cbor(&map(good()));
    body.push(0x00);
    assert_eq!(
        expect_rejected(&framed(&body), 7),
        "bytes after the CBOR item in the frame"
    );
}

#[test]
fn test_reject_deep_nesting() {
    let mut deep = Value::Null;
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let msg = expect_rejected(&request(with("args", map(vec![("x", deep)]))), 0);
    assert_eq!(msg, "CBOR nests too deeply");
}

#[test]
fn test_reject_argument_errors_keep_the_connection() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let e = c
        .call("echo_text", &Args::new().with("msg", Value::Bytes(vec![1])))
        .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Einval));
    assert_eq!(
        e.to_string(),
        "EINVAL: argument `msg` must be a text string"
    );
    let e = c.call("echo_text", &Args::new()).unwrap_err();
    assert_eq!(e.to_string(), "EINVAL: missing argument `msg`");
    let e = c.call("nope", &Args::new()).unwrap_err();
    assert_eq!(e.to_string(), "EINVAL: unknown op: nope");
    let e = c.call("fail", &Args::new()).unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Enoent));
    // Same connection, still good.
    echo_ok(&mut c, "after errors");
}

#[test]
fn test_reject_more_arguments_than_the_cap() {
    let at_cap: Vec<(String, Value)> = (0..wire::MAX_ARGS)
        .map(|i| (format!("a{i}"), Value::from(i as u64)))
        .collect();
    let args = |entries: &[(String, Value)]| {
        Value::Map(entries.iter().map(|(k, v)| (text(k), v.clone())).collect())
    };
    // At the cap the request is served (echo returns its arguments).
    let srv = TestServer::start();
    let mut c = srv.client();
    let mut a = Args::new();
    for (k, v) in &at_cap {
        a = a.try_with(k, v.clone()).unwrap();
    }
    assert_eq!(c.call("echo", &a).unwrap(), args(&at_cap));
    // One more is refused, closing the connection.
    let mut over = at_cap.clone();
    over.push(("extra".into(), Value::Null));
    let msg = expect_rejected(&request(with("args", args(&over))), 7);
    assert_eq!(msg, "request has more than 16 arguments");
}

/// The shape of an attack: a 1 MiB request whose `args` map has ~116,000
/// keys. It is refused from its heads alone (no per-key work), with the
/// item cap's message; a client connected meanwhile keeps being served.
#[test]
fn test_reject_mebibyte_request_with_many_keys() {
    let body = many_keys_request(116_000);
    assert!(body.len() > 900_000 && body.len() <= wire::MAX_FRAME_LEN);
    let msg = expect_rejected(&framed(&body), 0);
    assert_eq!(msg, "request has more than 1024 CBOR items");
    // The same keys in an indefinite-length map, and a flat array of one
    // million one-byte items: refused the same way.
    let mut indef = body.clone();
    let at = indef.len() - many_keys_tail(116_000);
    indef.splice(at..at + 5, [0xbf]);
    indef.push(0xff);
    assert_eq!(
        expect_rejected(&framed(&indef), 0),
        "request has more than 1024 CBOR items"
    );
    let mut flat = cbor(&map(vec![
        ("v", Value::from(1u64)),
        ("id", Value::from(7u64)),
        ("op", text("echo")),
    ]));
    flat[0] = 0xa4;
    flat.extend(cbor(&text("args")));
    flat.extend([0xa1, 0x61, b'x', 0x9a, 0x00, 0x0f, 0xff, 0x00]);
    flat.resize(flat.len() + 0x000f_ff00, 0);
    assert!(flat.len() <= wire::MAX_FRAME_LEN);
    assert_eq!(
        expect_rejected(&framed(&flat), 0),
        "request has more than 1024 CBOR items"
    );
}

/// A request `{v, id, op, args}` whose args map holds `n` keys `k0`, `k1`
/// … each mapped to 0, with the args map encoded last.
fn many_keys_request(n: usize) -> Vec<u8> {
    let keys: Vec<(Value, Value)> = (0..n)
        .map(|i| (text(&format!("k{i}")), Value::from(0u64)))
        .collect();
    cbor(&map(with("args", Value::Map(keys))))
}

/// How many bytes of [`many_keys_request`] follow the `"args"` key: the
/// map's 5-byte head and its entries.
fn many_keys_tail(n: usize) -> usize {
    let entries: usize = (0..n)
        .map(|i| cbor(&text(&format!("k{i}"))).len() + 1)
        .sum();
    entries + 5
}
