//! Wire benchmarks: frame encode/decode of a typical request, the decode
//! of the worst 1 MiB requests a peer can send (refused or served), and a
//! full echo round trip (client → server worker → client) over a real Unix
//! socket. After criterion's figures, a latency distribution of the round
//! trip (p50/p99 over 2000 calls) is printed.
//!
//! Run: `cargo bench -p wire -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Instant;
use wire::frame::{encode_frame, read_frame};
use wire::{
    decode_request, encode_reply, encode_request, Args, CallContext, Client, PeerCredResolver,
    Request, Server, ServerConfig, Subject, Value, WireError, MAX_FRAME_LEN,
};

fn sample_args() -> Args {
    Args::new()
        .with("app", "com.example.notes")
        .with("purpose", "sign")
        .with("name", "k1")
        .with("msg", Value::Bytes(vec![0x5a; 256]))
}

fn echo(_ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
    Ok(req.args().clone().into_value())
}

fn frames(c: &mut Criterion) {
    let args = sample_args();
    c.bench_function("request encode (256-byte msg)", |b| {
        b.iter(|| {
            let body = encode_request(black_box(42), "key.sign", black_box(&args)).unwrap();
            encode_frame(&body, MAX_FRAME_LEN).unwrap()
        })
    });
    let framed = encode_frame(
        &encode_request(42, "key.sign", &args).unwrap(),
        MAX_FRAME_LEN,
    )
    .unwrap();
    c.bench_function("request decode (256-byte msg)", |b| {
        b.iter(|| {
            let mut r = black_box(&framed[..]);
            let body = read_frame(&mut r, MAX_FRAME_LEN).unwrap().unwrap();
            decode_request(&body).unwrap()
        })
    });
    let value = args.clone().into_value();
    c.bench_function("reply encode (256-byte msg)", |b| {
        b.iter(|| encode_reply(black_box(42), Ok(&value)).unwrap())
    });
}

/// `{v, id, op, args: ...}` with the args map's bytes given.
fn request_with_args(args_map: &[u8]) -> Vec<u8> {
    let head = encode_request(7, "echo", &Args::new()).unwrap();
    let mut body = head[..head.len() - 1].to_vec();
    body.extend_from_slice(args_map);
    body
}

/// The worst 1 MiB requests: what a peer's largest frame costs the decoder
/// before the request is refused or handed to the operation.
fn worst_requests(c: &mut Criterion) {
    // 116,000 argument keys (~933 KB): refused by the item cap.
    let n: u32 = 116_000;
    let mut keys = vec![0xba];
    keys.extend_from_slice(&n.to_be_bytes());
    for i in 0..n {
        let k = format!("k{i}");
        keys.push(0x60 | k.len() as u8);
        keys.extend_from_slice(k.as_bytes());
        keys.push(0);
    }
    let many_keys = request_with_args(&keys);
    assert!(decode_request(&many_keys).is_err());
    c.bench_function(
        "decode 933 KB request, 116,000 argument keys (refused)",
        |b| b.iter(|| decode_request(black_box(&many_keys)).unwrap_err()),
    );
    // A million one-byte items in one argument: refused the same way.
    let mut flat = vec![0xa1, 0x61, b'x', 0x9a, 0x00, 0x0f, 0xff, 0x00];
    flat.resize(flat.len() + 0x000f_ff00, 0);
    let flat = request_with_args(&flat);
    c.bench_function(
        "decode 1 MiB request, 1,048,320 one-byte items (refused)",
        |b| b.iter(|| decode_request(black_box(&flat)).unwrap_err()),
    );
    // The most a served request can hold: 16 arguments, 976 text
    // strings of 1 KB in all (1,017 items; 1,024 is the cap).
    let strings: Vec<Value> = (0..61).map(|_| Value::Text("s".repeat(1000))).collect();
    let mut served = Args::new();
    for i in 0..16 {
        served = served
            .try_with(&format!("a{i}"), Value::Array(strings.clone()))
            .unwrap();
    }
    let served = encode_request(7, "echo", &served).unwrap();
    assert!(served.len() <= MAX_FRAME_LEN);
    decode_request(&served).unwrap();
    c.bench_function(
        "decode 1 MiB request, 16 args of 61 1-KB text items (served)",
        |b| b.iter(|| decode_request(black_box(&served)).unwrap()),
    );
    // One 1 MiB byte string: the common large request.
    let big = encode_request(
        7,
        "key.sign",
        &Args::new().with("msg", Value::Bytes(vec![0x5a; MAX_FRAME_LEN - 64])),
    )
    .unwrap();
    c.bench_function("decode 1 MiB request, one byte string (served)", |b| {
        b.iter(|| decode_request(black_box(&big)).unwrap())
    });
}

fn round_trip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sock");
    let server = Server::new(echo, ServerConfig::default());
    server
        .listen(&path, PeerCredResolver::new(|uid| Some(Subject::Uid(uid))))
        .unwrap();
    let mut client = Client::connect(&path).unwrap();
    let args = sample_args();
    c.bench_function("echo round trip over a Unix socket", |b| {
        b.iter(|| client.call("echo", black_box(&args)).unwrap())
    });

    let mut samples: Vec<u128> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            client.call("echo", &args).unwrap();
            t.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "echo round trip latency over 2000 calls: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        at(0.5),
        at(0.9),
        at(0.99)
    );
    drop(client);
    server.shutdown();
}

criterion_group!(benches, frames, worst_requests, round_trip);
criterion_main!(benches);
