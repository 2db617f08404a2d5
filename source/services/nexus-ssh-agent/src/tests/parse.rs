//! The message parser: every request it accepts, and every malformed
//! input it must refuse (the connection stays open: the frame was whole).

use super::*;
use crate::proto::cursor::ParseError;
use crate::proto::{parse_request, Request};

fn refused(body: &[u8]) -> ParseError {
    match parse_request(body) {
        Ok(r) => panic!("accepted as {}", r.kind()),
        Err(e) => e,
    }
}

#[test]
fn parses_each_request() {
    assert!(matches!(
        parse_request(&[msg::REQUEST_IDENTITIES]),
        Ok(Request::RequestIdentities)
    ));
    let m = sign_msg(&[7; 32], b"data", 0);
    let Ok(Request::Sign {
        key_blob,
        data,
        flags,
    }) = parse_request(&m)
    else {
        panic!("sign")
    };
    assert_eq!(
        (key_blob, data, flags),
        (&ed25519_blob(&[7; 32])[..], &b"data"[..], 0)
    );
    assert!(matches!(
        parse_request(&[msg::REMOVE_ALL_IDENTITIES]),
        Ok(Request::RemoveAll)
    ));
    let lock = pass_msg(msg::LOCK, b"pw");
    let Ok(Request::Lock { passphrase }) = parse_request(&lock) else {
        panic!("lock")
    };
    assert_eq!(passphrase, b"pw");
    let mut ext = vec![msg::EXTENSION];
    put_string(&mut ext, b"x@example.com");
    ext.extend_from_slice(b"opaque");
    let Ok(Request::Extension { name, contents }) = parse_request(&ext) else {
        panic!("extension")
    };
    assert_eq!((name, contents), (&b"x@example.com"[..], &b"opaque"[..]));
    let m = add_msg([3; 32], "me@host", None);
    let Ok(Request::Add(add)) = parse_request(&m) else {
        panic!("add")
    };
    assert_eq!(add.seed.expose(), &[3; 32]);
    assert_eq!(add.comment, b"me@host");
    assert_eq!(add.constraints, Default::default());
}

#[test]
fn unknown_types_parse_as_unknown() {
    for t in [0u8, 1, 9, 24, 99, 255] {
        assert!(matches!(parse_request(&[t, 1, 2, 3]), Ok(Request::Unknown(k)) if k == t));
    }
}

#[test]
fn test_reject_empty_body() {
    assert_eq!(refused(&[]), ParseError::Truncated);
}

#[test]
fn test_reject_truncated_string() {
    // SIGN_REQUEST whose key blob announces 100 bytes and carries 3.
    let mut m = vec![msg::SIGN_REQUEST];
    m.extend_from_slice(&100u32.to_be_bytes());
    m.extend_from_slice(b"abc");
    assert_eq!(refused(&m), ParseError::Truncated);
}

#[test]
fn test_reject_huge_string_length_without_allocating() {
    let mut m = vec![msg::LOCK];
    m.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(refused(&m), ParseError::Truncated);
}

#[test]
fn test_reject_missing_flags() {
    let mut m = sign_msg(&[7; 32], b"data", 0);
    m.truncate(m.len() - 1);
    assert_eq!(refused(&m), ParseError::Truncated);
}

#[test]
fn test_reject_trailing_bytes() {
    for mut m in [
        vec![msg::REQUEST_IDENTITIES],
        vec![msg::REMOVE_ALL_IDENTITIES],
        sign_msg(&[7; 32], b"d", 0),
        pass_msg(msg::UNLOCK, b"pw"),
        add_msg([1; 32], "c", None),
    ] {
        m.push(0);
        assert_eq!(refused(&m), ParseError::Trailing);
    }
}

#[test]
fn test_reject_add_with_mismatched_halves() {
    // The public key field names another key than the private part.
    let mut m = add_msg([1; 32], "c", None);
    let other = SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes();
    // type byte, string "ssh-ed25519" (4 + 11), then the public key string.
    m[1 + 15 + 4..1 + 15 + 4 + 32].copy_from_slice(&other);
    assert_eq!(refused(&m), ParseError::Malformed("Ed25519 key pair"));
}

#[test]
fn test_reject_add_with_wrong_private_part() {
    // The private part's second half is not the seed's public key.
    let mut m = add_msg([1; 32], "c", None);
    let at = 1 + 15 + 36 + 4 + 32;
    m[at] ^= 1;
    assert_eq!(refused(&m), ParseError::Malformed("Ed25519 key pair"));
}

#[test]
fn test_reject_add_with_short_key_fields() {
    let mut m = vec![msg::ADD_IDENTITY];
    put_string(&mut m, b"ssh-ed25519");
    put_string(&mut m, &[0; 31]);
    put_string(&mut m, &[0; 64]);
    put_string(&mut m, b"c");
    assert_eq!(refused(&m), ParseError::Malformed("Ed25519 public key"));
    let mut m = vec![msg::ADD_IDENTITY];
    put_string(&mut m, b"ssh-ed25519");
    put_string(&mut m, &[0; 32]);
    put_string(&mut m, &[0; 65]);
    put_string(&mut m, b"c");
    assert_eq!(refused(&m), ParseError::Malformed("Ed25519 private key"));
}

#[test]
fn other_key_types_are_named_not_parsed() {
    let mut m = vec![msg::ADD_IDENTITY];
    put_string(&mut m, b"ssh-rsa");
    m.extend_from_slice(&[0xff; 40]);
    let Ok(Request::AddUnsupported { key_type }) = parse_request(&m) else {
        panic!("rsa add")
    };
    assert_eq!(key_type, b"ssh-rsa");
}

#[test]
fn test_reject_unknown_and_repeated_constraints() {
    assert_eq!(
        refused(&add_msg([1; 32], "c", Some(&[9]))),
        ParseError::Malformed("unknown constraint")
    );
    assert_eq!(
        refused(&add_msg([1; 32], "c", Some(&[2, 2]))),
        ParseError::Malformed("repeated confirm constraint")
    );
    assert_eq!(
        refused(&add_msg(
            [1; 32],
            "c",
            Some(&[1, 0, 0, 0, 5, 1, 0, 0, 0, 6])
        )),
        ParseError::Malformed("repeated lifetime constraint")
    );
    // A lifetime with its number cut short.
    assert_eq!(
        refused(&add_msg([1; 32], "c", Some(&[1, 0, 0]))),
        ParseError::Truncated
    );
}

#[test]
fn constraints_parse_whole() {
    let mut c = vec![1, 0, 0, 0, 60, 2, 3, 0, 0, 0, 9, 255];
    put_string(&mut c, b"restrict-destination-v00@openssh.com");
    put_string(&mut c, b"opaque constraint list");
    let m = add_msg([1; 32], "c", Some(&c));
    let Ok(Request::Add(add)) = parse_request(&m) else {
        panic!("add")
    };
    let k = &add.constraints;
    assert_eq!((k.lifetime, k.confirm), (Some(60), true));
    assert_eq!(
        k.unsupported,
        [
            crate::proto::add::Unsupported::MaxSign,
            crate::proto::add::Unsupported::Extension(
                "restrict-destination-v00@openssh.com".into()
            )
        ]
    );
}

#[test]
fn test_reject_bad_boolean_in_session_bind() {
    let mut c = Vec::new();
    put_string(&mut c, b"hostkey");
    put_string(&mut c, b"sid");
    put_string(&mut c, b"sig");
    c.push(2);
    assert_eq!(
        crate::bind::verify(&c),
        Err(crate::bind::BindError::Malformed(ParseError::Malformed(
            "boolean"
        )))
    );
}
