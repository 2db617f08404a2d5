#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Generated-input properties (fuzz-style, deterministic seeds so a failure
//! reproduces):
//! 1. `check_deterministic(encode(v)) == v` up to map entry order, and an
//!    independent decoder (ciborium) reads the same value;
//! 2. any input the checker accepts re-encodes to exactly the same bytes,
//!    over mutated encodings and random byte strings.

use detcbor::{check_deterministic, encode, Integer, Value};

/// SplitMix64: tiny, seedable, good enough to spread test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Integers clustered around every head-width boundary, where shortest-form
/// mistakes would show.
fn gen_int(r: &mut Rng) -> Value {
    const EDGES: [u64; 10] = [
        0,
        23,
        24,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
    ];
    let base = EDGES[r.below(EDGES.len() as u64) as usize];
    let arg = match r.below(3) {
        0 => base,
        1 => base.wrapping_add(1),
        _ => r.next() >> r.below(64),
    };
    let i = if r.below(2) == 0 {
        i128::from(arg)
    } else {
        -1 - i128::from(arg)
    };
    Value::Integer(Integer::try_from(i).unwrap())
}

fn gen_bytes(r: &mut Rng) -> Vec<u8> {
    let len = [0, 1, 23, 24, 25, 255, 256][r.below(7) as usize];
    (0..len).map(|_| r.next() as u8).collect()
}

fn gen_text(r: &mut Rng) -> String {
    const CHARS: [char; 8] = ['a', 'z', '0', '-', '\u{e9}', '\u{6c34}', '\u{1f600}', '\0'];
    let len = r.below(30);
    (0..len)
        .map(|_| CHARS[r.below(CHARS.len() as u64) as usize])
        .collect()
}

fn gen_value(r: &mut Rng, depth: usize) -> Value {
    let leaf_only = depth >= 5;
    match r.below(if leaf_only { 6 } else { 9 }) {
        0 => gen_int(r),
        1 => Value::Bytes(gen_bytes(r)),
        2 => Value::Text(gen_text(r)),
        3 => Value::Bool(r.below(2) == 0),
        4 => Value::Null,
        5 => gen_int(r),
        6 => Value::Array((0..r.below(6)).map(|_| gen_value(r, depth + 1)).collect()),
        7 => {
            // Tags 2 and 3 (bignums) are refused by design.
            let tag = [0u64, 1, 18, 24, 61, 1000, u64::MAX][r.below(7) as usize];
            Value::Tag(tag, Box::new(gen_value(r, depth + 1)))
        }
        _ => gen_map(r, depth + 1),
    }
}

fn gen_map(r: &mut Rng, depth: usize) -> Value {
    let mut entries: Vec<(Value, Value)> = Vec::new();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for _ in 0..r.below(7) {
        let k = if r.below(4) == 0 {
            gen_value(r, depth + 1)
        } else if r.below(2) == 0 {
            gen_int(r)
        } else {
            Value::Text(gen_text(r))
        };
        let kb = encode(&k).unwrap();
        if seen.contains(&kb) {
            continue;
        }
        seen.push(kb);
        entries.push((k, gen_value(r, depth + 1)));
    }
    Value::Map(entries)
}

/// Equality where map entries may appear in any order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .filter(|(k2, _)| same(k, k2))
                        .any(|(_, v2)| same(v, v2))
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Tag(t, x), Value::Tag(u, y)) => t == u && same(x, y),
        _ => a == b,
    }
}

const CASES: u64 = 3000;

#[test]
fn generated_values_round_trip() {
    for seed in 0..CASES {
        let mut r = Rng(seed);
        let v = gen_value(&mut r, 0);
        let bytes = encode(&v).unwrap();
        let back = check_deterministic(&bytes)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}: {}", hex::encode(&bytes)));
        assert!(same(&v, &back), "seed {seed}");
        assert_eq!(encode(&back).unwrap(), bytes, "seed {seed}");
        // An independent decoder agrees on what the bytes mean.
        let theirs: Value = ciborium::de::from_reader(bytes.as_slice()).unwrap();
        assert!(same(&v, &theirs), "seed {seed}: ciborium disagrees");
    }
}

/// Decode; if accepted, the bytes must be exactly the encoding of the value.
fn accepted_is_canonical(input: &[u8]) -> bool {
    match check_deterministic(input) {
        Ok(v) => {
            assert_eq!(
                encode(&v).unwrap(),
                input,
                "accepted non-canonical input {}",
                hex::encode(input)
            );
            true
        }
        Err(_) => false,
    }
}

#[test]
fn accepted_mutations_reencode_identically() {
    let (mut accepted, mut rejected) = (0u32, 0u32);
    for seed in 0..CASES {
        let mut r = Rng(seed ^ 0xdead_beef);
        let base = encode(&gen_value(&mut r, 0)).unwrap();
        for _ in 0..8 {
            let mut m = base.clone();
            let pos = r.below(m.len() as u64) as usize;
            match r.below(5) {
                0 => m[pos] ^= 1 << r.below(8),
                1 => m[pos] = r.next() as u8,
                2 => m.truncate(pos),
                3 => m.insert(pos, r.next() as u8),
                _ => {
                    m.remove(pos);
                }
            }
            if accepted_is_canonical(&m) {
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
    }
    // Both outcomes must be exercised, or the property proves nothing.
    assert!(accepted > 1000 && rejected > 1000, "{accepted}/{rejected}");
}

#[test]
fn accepted_random_bytes_reencode_identically() {
    let mut accepted = 0u32;
    let mut r = Rng(42);
    for _ in 0..200_000 {
        let len = 1 + r.below(12) as usize;
        let input: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        if accepted_is_canonical(&input) {
            accepted += 1;
        }
    }
    assert!(accepted > 100, "{accepted}");
}

/// ciborium's own decoder accepts non-deterministic forms that the checker
/// refuses: the reason the checker exists.
#[test]
fn general_decoders_are_not_enough() {
    for h in ["1800", "a220000a00", "5f4101ff", "a201000101"] {
        let bytes = hex::decode(h).unwrap();
        assert!(
            ciborium::de::from_reader::<Value, _>(bytes.as_slice()).is_ok(),
            "{h}"
        );
        assert!(check_deterministic(&bytes).is_err(), "{h}");
    }
}
