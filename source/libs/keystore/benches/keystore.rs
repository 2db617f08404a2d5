//! Keystore hot paths through the real keymint and a durable statefs on a
//! temp dir: sign, verify, seal and unseal at 64 B, 4 KiB and 1 MiB;
//! create and rotate (each an fsynced atomic write).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keymint::{Algorithm, Entropy, KeyMint};
use keystore::{KeyName, KeySelector, KeyStore};
use nexus_core::{Authorizer, AuthzError, Capability, QuotaLimits, Subject, SystemClock};
use statefs::StateFs;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct AllowAll;
impl Authorizer for AllowAll {
    fn authorize(&self, _: &Subject, _: Capability, _: &str) -> Result<(), AuthzError> {
        Ok(())
    }
}

fn unlimited(_: &Subject) -> QuotaLimits {
    QuotaLimits {
        soft_bytes: u64::MAX,
        hard_bytes: u64::MAX,
        soft_count: u64::MAX,
        hard_count: u64::MAX,
    }
}

fn store(dir: &std::path::Path) -> KeyStore {
    let state = StateFs::open(dir).unwrap();
    let km = KeyMint::open(&state, Entropy::os()).unwrap();
    KeyStore::new(
        state,
        Arc::new(km),
        Arc::new(SystemClock),
        Arc::new(unlimited),
    )
}

fn subject() -> Subject {
    "app:com.bench".parse().unwrap()
}

fn key(purpose: &str, name: &str) -> KeyName {
    KeyName::parse("com.bench", purpose, name).unwrap()
}

fn crypto_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ks = store(dir.path());
    let s = subject();
    let sk = key("sign", "k");
    let dk = key("seal", "k");
    ks.create(&s, &AllowAll, &sk, Algorithm::Ed25519).unwrap();
    ks.create(&s, &AllowAll, &dk, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let mut g = c.benchmark_group("keystore");
    for size in [64usize, 4096, 1 << 20] {
        if size >= 1 << 20 {
            g.sample_size(10);
        }
        let msg = vec![0x5a; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("sign", size), &msg, |b, m| {
            b.iter(|| ks.sign(&s, &AllowAll, &sk, m).unwrap())
        });
        let sig = ks.sign(&s, &AllowAll, &sk, &msg).unwrap();
        g.bench_with_input(BenchmarkId::new("verify", size), &msg, |b, m| {
            b.iter(|| {
                ks.verify(&s, &sk, KeySelector::Kid(sig.kid), m, &sig.signature)
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("seal", size), &msg, |b, m| {
            b.iter(|| ks.seal(&s, &AllowAll, &dk, b"ctx", m).unwrap())
        });
        let sealed = ks.seal(&s, &AllowAll, &dk, b"ctx", &msg).unwrap().sealed;
        g.bench_with_input(BenchmarkId::new("unseal", size), &sealed, |b, x| {
            b.iter(|| ks.unseal(&s, &AllowAll, &dk, b"ctx", x).unwrap())
        });
    }
    g.finish();
}

fn lifecycle(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ks = store(dir.path());
    let s = subject();
    let mut g = c.benchmark_group("keystore");
    let mut n = 0u64;
    g.bench_function("create_durable", |b| {
        b.iter(|| {
            n += 1;
            ks.create(
                &s,
                &AllowAll,
                &key("create", &format!("k{n}")),
                Algorithm::Ed25519,
            )
            .unwrap()
        })
    });
    // A fresh key every 50 rotations keeps records at a realistic size
    // (and under the version cap); only rotate calls are timed.
    let mut m = 0u64;
    g.bench_function("rotate_durable", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut k = key("rotate", "r0");
            for i in 0..iters {
                if i % 50 == 0 {
                    m += 1;
                    k = key("rotate", &format!("r{m}"));
                    ks.create(&s, &AllowAll, &k, Algorithm::Ed25519).unwrap();
                }
                let t = Instant::now();
                ks.rotate(&s, &AllowAll, &k).unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, crypto_ops, lifecycle);
criterion_main!(benches);
