#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every way bytes can fail to be core deterministic CBOR, and every value
//! the encoder refuses: each gets its own typed error and maps to EINVAL.

use detcbor::{
    check_deterministic, check_deterministic_with, encode, encode_with, DetCborError, Integer,
    Limits, Value,
};
use nexus_core::{Coded, ErrorCode};

fn reject(hex_in: &str, want: DetCborError) {
    let bytes = hex::decode(hex_in).unwrap();
    let err = check_deterministic(&bytes).unwrap_err();
    assert_eq!(err, want, "input {hex_in}");
    assert_eq!(err.code(), ErrorCode::Einval);
}

fn int(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

#[test]
fn test_reject_non_shortest_integers() {
    for h in [
        "1800",               // 0 in one extra byte
        "1817",               // 23 in one extra byte
        "190017",             // 23 in two bytes
        "1900ff",             // 255 in two bytes
        "1a0000ffff",         // 65535 in four bytes
        "1b00000000ffffffff", // 2^32-1 in eight bytes
        "3800",               // -1 in one extra byte
        "390000",             // -1 in two bytes
    ] {
        reject(h, DetCborError::NonShortest);
    }
}

#[test]
fn test_reject_non_shortest_lengths_and_tags() {
    for h in [
        "5800",     // empty bstr, 1-byte length
        "780161",   // "a", 1-byte length
        "98020102", // [1, 2], 1-byte length
        "b800",     // {}, 1-byte length
        "d81280",   // tag 18 in one extra byte
        "59000141", // bstr of 1 byte with a 2-byte length
    ] {
        reject(h, DetCborError::NonShortest);
    }
}

#[test]
fn test_reject_indefinite_lengths() {
    for h in ["5f4101ff", "7f6161ff", "9f01ff", "bf0101ff"] {
        reject(h, DetCborError::IndefiniteLength);
    }
}

#[test]
fn test_reject_malformed_heads() {
    for h in [
        "1c", "1d", "1e", // reserved additional info, major 0
        "3c", "5d", "7e", "9c", "bd", "de", // reserved ai, other majors
        "1f", "3f", "df", // ai 31 where no indefinite form exists
        "ff", // stray break
        "fc", "fd", "fe", // reserved simple encodings
    ] {
        reject(h, DetCborError::Malformed);
    }
}

#[test]
fn test_reject_unsorted_keys() {
    // {-1: 0, 10: 0}: numeric order, not bytewise.
    reject("a220000a00", DetCborError::UnsortedKeys);
    // {-1: 0, 256: 0}: what a length-first (cbor2 canonical=True) sort emits.
    reject("a2200019010000", DetCborError::UnsortedKeys);
    // {"aa": 0, "z": 0}
    reject("a262616100617a00", DetCborError::UnsortedKeys);
    // Unsorted inside a nested map.
    reject("a101a202000100", DetCborError::UnsortedKeys);
}

#[test]
fn test_reject_duplicate_keys() {
    reject("a201000101", DetCborError::DuplicateKey);
    reject("a2617a00617a01", DetCborError::DuplicateKey);
    reject("a2810100810101", DetCborError::DuplicateKey);
}

#[test]
fn test_reject_trailing_bytes() {
    reject("0000", DetCborError::TrailingBytes);
    reject("a0ff", DetCborError::TrailingBytes);
    reject("d28000", DetCborError::TrailingBytes);
}

#[test]
fn test_reject_truncated() {
    for h in [
        "",                   // nothing at all
        "18",                 // missing 1-byte argument
        "1901",               // short 2-byte argument
        "1b00000000000001",   // short 8-byte argument
        "4201",               // bstr shorter than its length
        "6261",               // tstr shorter than its length
        "8201",               // array missing an element
        "a101",               // map missing a value
        "a2010002",           // map missing a value
        "d2",                 // tag without content
        "5bffffffffffffffff", // bstr claiming 2^64-1 bytes
        "9bffffffffffffffff", // array claiming 2^64-1 items
        "bb7fffffffffffffff", // map claiming 2^63-1 pairs
    ] {
        reject(h, DetCborError::Truncated);
    }
}

#[test]
fn test_reject_floats() {
    for h in ["f93c00", "fa47c35000", "fb3ff199999999999a", "f97e00"] {
        reject(h, DetCborError::Float);
    }
    assert_eq!(encode(&Value::Float(1.0)), Err(DetCborError::Float));
    assert_eq!(
        encode(&Value::Array(vec![Value::Float(0.0)])),
        Err(DetCborError::Float)
    );
}

#[test]
fn test_reject_undefined_and_simple_values() {
    for h in ["f7", "e0", "f3", "f820", "f8ff"] {
        reject(h, DetCborError::UnsupportedSimple);
    }
}

#[test]
fn test_reject_bignum_tags() {
    reject("c24101", DetCborError::UnsupportedTag);
    reject("c34101", DetCborError::UnsupportedTag);
    let big = Value::Tag(2, Box::new(Value::Bytes(vec![1])));
    assert_eq!(encode(&big), Err(DetCborError::UnsupportedTag));
}

#[test]
fn test_reject_invalid_utf8() {
    reject("61ff", DetCborError::InvalidUtf8);
    reject("62c328", DetCborError::InvalidUtf8);
    // A UTF-16 surrogate encoded as UTF-8 (CESU) is not valid UTF-8.
    reject("63eda080", DetCborError::InvalidUtf8);
}

#[test]
fn test_reject_too_deep() {
    let limits = Limits::DEFAULT;
    let ok = format!("{}00", "81".repeat(limits.max_depth));
    assert!(check_deterministic(&hex::decode(&ok).unwrap()).is_ok());
    reject(
        &format!("{}00", "81".repeat(limits.max_depth + 1)),
        DetCborError::DepthExceeded,
    );
    // Far deeper than any stack would allow if recursion were unchecked.
    let mut deep = vec![0x81u8; 1_000_000];
    deep.push(0);
    assert_eq!(check_deterministic(&deep), Err(DetCborError::DepthExceeded));
    reject(
        &format!("{}00", "d8ff".repeat(limits.max_depth + 1)),
        DetCborError::DepthExceeded,
    );
    reject(
        &format!("{}0000", "a1".repeat(limits.max_depth + 1)),
        DetCborError::DepthExceeded,
    );

    let mut v = int(0);
    for _ in 0..=limits.max_depth {
        v = Value::Array(vec![v]);
    }
    assert_eq!(encode(&v), Err(DetCborError::DepthExceeded));
}

#[test]
fn test_reject_too_large() {
    let limits = Limits {
        max_input_len: 8,
        ..Limits::DEFAULT
    };
    // 9 bytes: a bstr holding 8 zero bytes.
    let mut nine = vec![0x48];
    nine.extend_from_slice(&[0; 8]);
    assert_eq!(nine.len(), 9);
    assert_eq!(
        check_deterministic_with(&nine, &limits),
        Err(DetCborError::TooLarge)
    );
    assert_eq!(
        encode_with(&Value::Bytes(vec![0; 8]), &limits),
        Err(DetCborError::TooLarge)
    );
    let over = vec![0u8; Limits::DEFAULT.max_input_len + 1];
    assert_eq!(check_deterministic(&over), Err(DetCborError::TooLarge));
}

#[test]
fn test_reject_too_many_items() {
    let limits = Limits {
        max_items: 4,
        ..Limits::DEFAULT
    };
    // [1, 2, 3] is four items (the array and three elements).
    let ok = hex::decode("83010203").unwrap();
    assert!(check_deterministic_with(&ok, &limits).is_ok());
    let too_many = hex::decode("8401020304").unwrap();
    assert_eq!(
        check_deterministic_with(&too_many, &limits),
        Err(DetCborError::TooManyItems)
    );
    let v = Value::Array(vec![int(1), int(2), int(3), int(4)]);
    assert_eq!(encode_with(&v, &limits), Err(DetCborError::TooManyItems));
}

#[test]
fn test_reject_duplicate_keys_on_encode() {
    let v = Value::Map(vec![(int(1), int(0)), (int(2), int(0)), (int(1), int(1))]);
    assert_eq!(encode(&v), Err(DetCborError::DuplicateKey));
    let nested = Value::Array(vec![Value::Map(vec![
        (Value::Text("k".into()), Value::Null),
        (Value::Text("k".into()), Value::Null),
    ])]);
    let err = encode(&nested).unwrap_err();
    assert_eq!(err, DetCborError::DuplicateKey);
    assert_eq!(err.code(), ErrorCode::Einval);
}
