//! Encoding and decoding of frames, requests and replies, and the worked
//! examples of docs/architecture/wire.md, pinned byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nexus_core::Coded;
use wire::frame::{encode_frame, read_frame};
use wire::handoff::{decode_header, encode_header};
use wire::{
    decode_reply, decode_request, encode_reply, encode_request, Args, ErrorCode, ProtocolError,
    Request, Subject, Value, WireError, MAX_FRAME_LEN,
};

/// `{"v": 1, "id": 1, "op": "echo", "args": {"msg": "hi"}}`, framed.
const ECHO_REQUEST: &str = "0000001da461760162696401626f70646563686f6461726773a1636d7367626869";
/// `{"id": 1, "ok": {"msg": "hi"}}`, framed.
const ECHO_REPLY: &str = "00000010a262696401626f6ba1636d7367626869";
/// `{"id": 2, "err": {"code": "ENOENT", "msg": "no such key"}}`, framed.
const ERROR_REPLY: &str =
    "00000026a26269640263657272a264636f646566454e4f454e54636d73676b6e6f2073756368206b6579";
/// `{"id": 0, "err": {"code": "EINVAL", "msg": "frame is not valid CBOR"}}`.
const UNREADABLE_REPLY: &str = "00000032a26269640063657272a264636f64656645494e56414c636d7367776672616d65206973206e6f742076616c69642043424f52";
/// `{"v": 1, "id": 7, "op": "key.sign", "args": {"app": "com.example.notes",
/// "name": "k1", "msg": h'010203'}}`, framed.
const SIGN_REQUEST: &str = "00000040a461760162696407626f70686b65792e7369676e6461726773a36361707071636f6d2e6578616d706c652e6e6f746573646e616d65626b31636d736743010203";
/// Handoff header `{"v": 1, "name": "keystored", "subject": "app:com.example.notes"}`.
const HANDOFF_HEADER: &str = "00000031a3617601646e616d65696b657973746f726564677375626a656374756170703a636f6d2e6578616d706c652e6e6f746573";

fn framed_hex(body: &[u8]) -> String {
    hex::encode(encode_frame(body, MAX_FRAME_LEN).unwrap())
}

fn unframe(hex_frame: &str) -> Vec<u8> {
    let bytes = hex::decode(hex_frame).unwrap();
    let mut r = &bytes[..];
    let body = read_frame(&mut r, MAX_FRAME_LEN).unwrap().unwrap();
    assert!(r.is_empty());
    body.to_vec()
}

#[test]
fn worked_examples_are_pinned() {
    let args = Args::new().with("msg", "hi");
    assert_eq!(
        framed_hex(&encode_request(1, "echo", &args).unwrap()),
        ECHO_REQUEST
    );
    let value = args.clone().into_value();
    assert_eq!(
        framed_hex(&encode_reply(1, Ok(&value)).unwrap()),
        ECHO_REPLY
    );
    let e = WireError::new(ErrorCode::Enoent, "no such key");
    assert_eq!(framed_hex(&encode_reply(2, Err(&e)).unwrap()), ERROR_REPLY);
    let e = WireError::from_coded(&ProtocolError::BadCbor);
    assert_eq!(
        framed_hex(&encode_reply(0, Err(&e)).unwrap()),
        UNREADABLE_REPLY
    );
    let sign = Args::new()
        .with("app", "com.example.notes")
        .with("name", "k1")
        .with("msg", Value::Bytes(vec![1, 2, 3]));
    assert_eq!(
        framed_hex(&encode_request(7, "key.sign", &sign).unwrap()),
        SIGN_REQUEST
    );
    let subject: Subject = "app:com.example.notes".parse().unwrap();
    assert_eq!(
        hex::encode(encode_header("keystored", &subject).unwrap()),
        HANDOFF_HEADER
    );

    // And they decode back to what they say.
    let req = decode_request(&unframe(ECHO_REQUEST)).unwrap();
    assert_eq!(req, Request::new(1, "echo", args).unwrap());
    let reply = decode_reply(&unframe(ERROR_REPLY)).unwrap();
    assert_eq!(reply.id, 2);
    assert_eq!(reply.outcome.unwrap_err().code(), ErrorCode::Enoent);
    let body = unframe(HANDOFF_HEADER);
    let (name, subj) = decode_header(&body).unwrap();
    assert_eq!((name.as_str(), subj), ("keystored", subject));
}

#[test]
fn the_document_shows_the_pinned_examples() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../docs/architecture/wire.md"
    ))
    .unwrap();
    let flat: String = doc.split_whitespace().collect();
    for hex in [
        ECHO_REQUEST,
        ECHO_REPLY,
        ERROR_REPLY,
        UNREADABLE_REPLY,
        SIGN_REQUEST,
        HANDOFF_HEADER,
    ] {
        assert!(flat.contains(hex), "wire.md lacks the example {hex}");
    }
    for code in ErrorCode::ALL {
        assert!(doc.contains(code.as_str()), "wire.md lacks {code}");
    }
    assert!(doc.contains(&wire::MAX_FRAME_LEN.to_string()));
}

#[test]
fn requests_round_trip() {
    let args = Args::new()
        .with("text", "héllo")
        .with("bytes", Value::Bytes((0..=255).collect()))
        .with("n", u64::MAX)
        .with("flag", false)
        .with("list", Value::Array(vec!["a".into(), "b".into()]))
        .with("nested", Args::new().with("x", 1u64).into_value());
    for id in [1, 23, 24, 255, 256, 65_536, u64::MAX] {
        let body = encode_request(id, "key.create", &args).unwrap();
        let req = decode_request(&body).unwrap();
        assert_eq!(req.id(), id);
        assert_eq!(req.op(), "key.create");
        assert_eq!(req.args(), &args);
    }
}

#[test]
fn replies_round_trip() {
    let v = Args::new()
        .with("kid", Value::Bytes(vec![7; 32]))
        .into_value();
    let r = decode_reply(&encode_reply(9, Ok(&v)).unwrap()).unwrap();
    assert_eq!((r.id, r.outcome), (9, Ok(v)));
    for code in ErrorCode::ALL {
        let e = WireError::new(code, format!("because {code}"));
        let r = decode_reply(&encode_reply(3, Err(&e)).unwrap()).unwrap();
        assert_eq!(r.outcome, Err(e));
    }
    // A null ok value is a value like any other.
    let r = decode_reply(&encode_reply(4, Ok(&Value::Null)).unwrap()).unwrap();
    assert_eq!(r.outcome, Ok(Value::Null));
}

#[test]
fn test_reject_unbuildable_requests() {
    let a = Args::new();
    assert_eq!(encode_request(0, "echo", &a), Err(ProtocolError::ZeroId));
    assert_eq!(encode_request(1, "", &a), Err(ProtocolError::BadOp));
    assert_eq!(
        encode_request(1, &"x".repeat(65), &a),
        Err(ProtocolError::BadOp)
    );
    assert_eq!(encode_request(1, "a\nb", &a), Err(ProtocolError::BadOp));
    let big = Args::new().with("msg", Value::Bytes(vec![0; MAX_FRAME_LEN]));
    let e = encode_request(1, "echo", &big).unwrap_err();
    assert_eq!(e, ProtocolError::TooLarge);
    assert_eq!(e.code(), ErrorCode::Einval);
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

fn m(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect(),
    )
}

#[test]
fn test_reject_malformed_replies() {
    let ok = || ("ok", Value::Null);
    let cases: Vec<(Value, ProtocolError)> = vec![
        (m(vec![ok()]), ProtocolError::MissingField("id")),
        (m(vec![("id", 1u64.into())]), ProtocolError::BadOutcome),
        (
            m(vec![("id", 1u64.into()), ok(), ("err", m(vec![]))]),
            ProtocolError::BadOutcome,
        ),
        (
            m(vec![("id", "1".into()), ok()]),
            ProtocolError::WrongType("id"),
        ),
        (
            m(vec![("id", 1u64.into()), ("err", "EIO".into())]),
            ProtocolError::WrongType("err"),
        ),
        (
            m(vec![
                ("id", 1u64.into()),
                ("err", m(vec![("code", "ENOPE".into()), ("msg", "".into())])),
            ]),
            ProtocolError::UnknownErrorCode,
        ),
        (
            m(vec![
                ("id", 1u64.into()),
                ("err", m(vec![("code", "EIO".into())])),
            ]),
            ProtocolError::MissingField("msg"),
        ),
        (
            m(vec![("id", 1u64.into()), ok(), ("extra", Value::Null)]),
            ProtocolError::UnknownField,
        ),
        (Value::Array(vec![]), ProtocolError::NotMap),
    ];
    for (v, want) in cases {
        assert_eq!(decode_reply(&cbor(&v)), Err(want), "{v:?}");
    }
    let mut trailing = cbor(&m(vec![("id", 1u64.into()), ok()]));
    trailing.push(0);
    assert_eq!(decode_reply(&trailing), Err(ProtocolError::TrailingBytes));
    assert_eq!(decode_reply(&[0xff]), Err(ProtocolError::BadCbor));
}

#[test]
fn test_reject_flipped_bytes_in_a_request() {
    // Flipping any single bit of a valid request either still decodes to a
    // well-formed request (e.g. a different id or letter) or is refused
    // with EINVAL; never anything else.
    let body = hex::decode(&SIGN_REQUEST[8..]).unwrap();
    let mut refused = 0;
    for i in 0..body.len() {
        for bit in 0..8 {
            let mut b = body.clone();
            b[i] ^= 1 << bit;
            match decode_request(&b) {
                Ok(req) => assert!(encode_request(req.id(), req.op(), req.args()).is_ok()),
                Err(e) => {
                    assert_eq!(e.code(), ErrorCode::Einval);
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > body.len(), "most flips must be refused");
}

#[test]
fn indefinite_length_input_is_accepted() {
    // {_ "v": 1, "id": 1, "op": (_ "ec", "ho"), "args": {_ }}: indefinite
    // maps and a chunked text string, as the specification allows.
    let body = hex::decode("bf61760162696401626f707f62656362686fff6461726773bfffff").unwrap();
    let req = decode_request(&body).unwrap();
    assert_eq!((req.id(), req.op(), req.args().len()), (1, "echo", 0));
}
