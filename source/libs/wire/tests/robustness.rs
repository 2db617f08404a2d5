//! The parsers never panic: a few thousand random and mutated buffers go
//! through the frame reader, the request and reply decoders and the
//! handoff header decoder. (The cargo-fuzz target in /fuzz does the same
//! with coverage guidance.) Whatever decodes must re-encode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wire::frame::read_frame;
use wire::handoff::decode_header;
use wire::{decode_reply, decode_request, encode_request, Args, Value};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let args = Args::new()
        .with("app", "com.example.notes")
        .with("msg", Value::Bytes(vec![1, 2, 3]))
        .with("n", 300u64)
        .with("list", Value::Array(vec!["a".into(), Value::Null]))
        .with("deep", Args::new().with("x", true).into_value());
    vec![
        encode_request(1, "echo", &Args::new()).unwrap().to_vec(),
        encode_request(u64::MAX, "key.sign", &args)
            .unwrap()
            .to_vec(),
        wire::encode_reply(5, Ok(&args.clone().into_value()))
            .unwrap()
            .to_vec(),
        wire::handoff::encode_header("keystored", &"uid:1000".parse().unwrap()).unwrap(),
    ]
}

fn feed(buf: &[u8]) {
    if let Ok(req) = decode_request(buf) {
        let again = encode_request(req.id(), req.op(), req.args()).unwrap();
        assert_eq!(decode_request(&again).unwrap(), req);
    }
    let _ = decode_reply(buf);
    let _ = decode_header(buf);
    let mut r = buf;
    while let Ok(Some(body)) = read_frame(&mut r, 4096) {
        let _ = decode_request(&body);
    }
}

#[test]
fn random_and_mutated_buffers_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = seeds();
    let mut accepted = 0;
    for round in 0..6000 {
        let buf: Vec<u8> = if round % 3 == 0 {
            (0..rng.below(200)).map(|_| rng.next() as u8).collect()
        } else {
            let mut b = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(b.len().max(1));
                match rng.below(4) {
                    0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
                    1 if !b.is_empty() => b[at] = rng.next() as u8,
                    2 => b.insert(at.min(b.len()), rng.next() as u8),
                    _ => b.truncate(at),
                }
            }
            b
        };
        feed(&buf);
        if decode_request(&buf).is_ok() {
            accepted += 1;
        }
    }
    // The mutations are mild enough that some stay valid; the test would
    // be vacuous if none did.
    assert!(accepted > 0);
}
