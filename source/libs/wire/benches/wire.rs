//! Wire benchmarks: frame encode/decode of a typical request, and a full
//! echo round trip (client → server thread → client) over a real Unix
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

criterion_group!(benches, frames, round_trip);
criterion_main!(benches);
