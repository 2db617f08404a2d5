#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Known-answer tests: RFC 8949 Appendix A examples and the §4.2.1 key
//! order, pinned to exact bytes in both directions.

use detcbor::{check_deterministic, encode, Integer, Value};

fn int(i: i128) -> Value {
    Value::Integer(Integer::try_from(i).unwrap())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Encode, compare with the expected hex, and check the validator accepts
/// the same bytes and decodes them back to the value.
fn pin(v: Value, hex_expected: &str) {
    let got = encode(&v).unwrap();
    assert_eq!(hex::encode(&got), hex_expected, "{v:?}");
    assert_eq!(check_deterministic(&got).unwrap(), v, "{hex_expected}");
}

#[test]
fn rfc8949_appendix_a_integers() {
    for (i, h) in [
        (0i128, "00"),
        (1, "01"),
        (10, "0a"),
        (23, "17"),
        (24, "1818"),
        (25, "1819"),
        (100, "1864"),
        (1000, "1903e8"),
        (1_000_000, "1a000f4240"),
        (1_000_000_000_000, "1b000000e8d4a51000"),
        (18_446_744_073_709_551_615, "1bffffffffffffffff"),
        (-18_446_744_073_709_551_616, "3bffffffffffffffff"),
        (-1, "20"),
        (-10, "29"),
        (-100, "3863"),
        (-1000, "3903e7"),
    ] {
        pin(int(i), h);
    }
}

#[test]
fn width_boundaries_use_the_shortest_head() {
    for (i, h) in [
        (255i128, "18ff"),
        (256, "190100"),
        (65_535, "19ffff"),
        (65_536, "1a00010000"),
        (4_294_967_295, "1affffffff"),
        (4_294_967_296, "1b0000000100000000"),
        (-24, "37"),
        (-25, "3818"),
        (-256, "38ff"),
        (-257, "390100"),
    ] {
        pin(int(i), h);
    }
    pin(
        Value::Bytes(vec![0u8; 24]),
        &format!("5818{}", "00".repeat(24)),
    );
    pin(
        Value::Text("a".repeat(256)),
        &format!("790100{}", "61".repeat(256)),
    );
}

#[test]
fn rfc8949_appendix_a_other_types() {
    pin(Value::Bool(false), "f4");
    pin(Value::Bool(true), "f5");
    pin(Value::Null, "f6");
    pin(Value::Bytes(vec![]), "40");
    pin(Value::Bytes(vec![1, 2, 3, 4]), "4401020304");
    pin(text(""), "60");
    pin(text("a"), "6161");
    pin(text("IETF"), "6449455446");
    pin(text("\u{00fc}"), "62c3bc");
    pin(text("\u{6c34}"), "63e6b0b4");
    pin(Value::Array(vec![]), "80");
    pin(Value::Array(vec![int(1), int(2), int(3)]), "83010203");
    pin(
        Value::Array(vec![
            int(1),
            Value::Array(vec![int(2), int(3)]),
            Value::Array(vec![int(4), int(5)]),
        ]),
        "8301820203820405",
    );
    pin(Value::Map(vec![]), "a0");
    pin(
        Value::Map(vec![(int(1), int(2)), (int(3), int(4))]),
        "a201020304",
    );
    pin(Value::Tag(1, Box::new(int(1_363_896_240))), "c11a514b67b0");
    pin(Value::Tag(18, Box::new(Value::Array(vec![]))), "d280");
}

/// The §4.2.1 order is bytewise over encoded keys: 10 (0a) < 256 (190100)
/// < -1 (20) < "z" (617a) < "aa" (626161). A length-first sort (cbor2
/// canonical=True, ciborium CanonicalValue) would put -1 before 256, and a
/// numeric sort would put -1 first.
#[test]
fn map_keys_sort_bytewise_not_length_first() {
    let entries = vec![
        (text("aa"), int(4)),
        (int(-1), int(2)),
        (text("z"), int(3)),
        (int(256), int(1)),
        (int(10), int(0)),
    ];
    let expected = "a5\
                    0a00\
                    19010001\
                    2002\
                    617a03\
                    62616104";
    let got = encode(&Value::Map(entries.clone())).unwrap();
    assert_eq!(hex::encode(&got), expected);
    // Every input order gives the same bytes.
    let mut reversed = entries;
    reversed.reverse();
    assert_eq!(encode(&Value::Map(reversed)).unwrap(), got);
    // The decoded map comes back in that order.
    let Value::Map(decoded) = check_deterministic(&got).unwrap() else {
        panic!("not a map")
    };
    let keys: Vec<Value> = decoded.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec![int(10), int(256), int(-1), text("z"), text("aa")]
    );
}

/// The example list of RFC 8949 §4.2.1, with non-scalar keys included.
#[test]
fn rfc8949_section_4_2_1_example_order() {
    let keys = [
        Value::Bool(false),
        Value::Array(vec![int(-1)]),
        Value::Array(vec![int(100)]),
        text("aa"),
        text("z"),
        int(-1),
        int(100),
        int(10),
    ];
    let map = Value::Map(keys.iter().cloned().map(|k| (k, Value::Null)).collect());
    let got = encode(&map).unwrap();
    assert_eq!(
        hex::encode(got),
        "a8\
         0af6\
         1864f6\
         20f6\
         617af6\
         626161f6\
         811864f6\
         8120f6\
         f4f6"
    );
}

#[test]
fn nested_maps_are_sorted_too() {
    let inner = Value::Map(vec![(int(-2), int(0)), (int(1), int(0))]);
    let outer = Value::Map(vec![(int(2), inner), (int(1), Value::Array(vec![]))]);
    // {1: [], 2: {1: 0, -2: 0}}
    assert_eq!(hex::encode(encode(&outer).unwrap()), "a2018002a201002100");
}
