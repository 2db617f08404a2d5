#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The largest, most expensive shapes a peer can send the strict checker:
//! each is refused from its heads, or accepted by a linear walk (sorted
//! keys are compared with their predecessor only). The same inputs seed
//! the fuzz corpus (`fuzz/corpus/detcbor_check/`, made by
//! `fuzz/worst_cases.py`).

use detcbor::{check_deterministic, encode, DetCborError, Integer, Limits, Value};

#[test]
fn test_reject_a_mebibyte_of_one_byte_items() {
    // An array of 1,048,570 zeros: refused at item 65,537, long before the
    // end, and without allocating for the announced count.
    let n: u32 = 1_048_570;
    let mut b = vec![0x9a];
    b.extend_from_slice(&n.to_be_bytes());
    b.resize(5 + n as usize, 0);
    assert!(b.len() <= Limits::DEFAULT.max_input_len);
    assert_eq!(check_deterministic(&b), Err(DetCborError::TooManyItems));
    // A count the input cannot hold is a lie, refused before any item.
    let lie = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
    assert_eq!(check_deterministic(&lie), Err(DetCborError::Truncated));
    let map_lie = [0xba, 0x00, 0x01, 0x00, 0x00, 0x00];
    assert_eq!(check_deterministic(&map_lie), Err(DetCborError::Truncated));
}

#[test]
fn test_reject_a_mebibyte_of_nesting() {
    let mut b = vec![0x81u8; (1 << 20) - 1];
    b.push(0x00);
    assert_eq!(check_deterministic(&b), Err(DetCborError::DepthExceeded));
}

#[test]
fn the_largest_sorted_map_is_accepted_in_one_pass() {
    // 32,767 entries (65,535 items with the map): the most the default
    // limits allow, keys in order, each compared with the one before.
    let entries: Vec<(Value, Value)> = (0..32_767i64)
        .map(|i| (Value::Integer(Integer::from(i)), Value::Null))
        .collect();
    let bytes = encode(&Value::Map(entries)).unwrap();
    let v = check_deterministic(&bytes).unwrap();
    assert_eq!(encode(&v).unwrap(), bytes);
    // The same map with its last two keys swapped: found at the end.
    let mut swapped: Vec<(Value, Value)> = (0..32_767i64)
        .map(|i| (Value::Integer(Integer::from(i)), Value::Null))
        .collect();
    let n = swapped.len();
    swapped.swap(n - 1, n - 2);
    let mut raw = vec![0xb9];
    raw.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
    for (k, v) in &swapped {
        raw.extend(encode(k).unwrap());
        raw.extend(encode(v).unwrap());
    }
    assert_eq!(check_deterministic(&raw), Err(DetCborError::UnsortedKeys));
}
